using System.Buffers;
using System.Collections;
using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>
/// Reads an image (regular file or block device) block by block: holes are reported as zero blocks without
/// being read (SEEK_DATA/SEEK_HOLE), zero blocks are detected without hashing, every other block is
/// fingerprinted. Bytes past the end of the image read as zero, so a final partial block is fingerprinted
/// zero-padded to the block size.
/// <para>
/// Reads are positional, so several threads may enumerate different ranges of one scanner at once; each
/// enumerator itself belongs to one thread.
/// </para>
/// </summary>
public sealed class ImageScanner : IDisposable
{
    private const int ReadChunkBytes = 1 << 20;

    private readonly SafeFileHandle _handle;
    private readonly bool _ownsHandle;
    private long _bytesRead;

    private ImageScanner(string path, SafeFileHandle handle, bool ownsHandle, int blockSize)
    {
        Path = path;
        _handle = handle;
        _ownsHandle = ownsHandle;
        BlockSize = blockSize;
        Length = NativeFile.GetLength(handle);
        BlockCount = BlockSizes.CountBlocks(Length, blockSize);
        ZeroFingerprint = ZeroFingerprints.For(blockSize);
    }

    /// <summary>Opens an image for reading (shared with writers).</summary>
    public static ImageScanner Open(string path, int blockSize = BlockSizes.Default)
    {
        BlockSizes.Validate(blockSize);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        try
        {
            return new ImageScanner(path, handle, ownsHandle: true, blockSize);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Scans through a handle the caller keeps owning.</summary>
    public static ImageScanner FromHandle(SafeFileHandle handle, int blockSize = BlockSizes.Default, string path = "")
    {
        BlockSizes.Validate(blockSize);
        return new ImageScanner(path, handle, ownsHandle: false, blockSize);
    }

    public string Path { get; }

    public int BlockSize { get; }

    /// <summary>Image size in bytes.</summary>
    public long Length { get; }

    /// <summary>Blocks in the image; a final partial block counts.</summary>
    public long BlockCount { get; }

    /// <summary>Fingerprint of an all-zero block of <see cref="BlockSize"/> bytes.</summary>
    public Fingerprint ZeroFingerprint { get; }

    /// <summary>Bytes actually read from the image so far by all enumerations (holes cost nothing).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    /// <summary>Every block of the image in order: <c>foreach (var b in scanner.Blocks()) ...</c></summary>
    public BlockEnumerable Blocks() => new(this, 0, BlockCount);

    /// <summary>Blocks [firstBlock, firstBlock + blockCount) in order.</summary>
    public BlockEnumerable Blocks(long firstBlock, long blockCount)
    {
        if (firstBlock < 0 || blockCount < 0 || firstBlock > BlockCount - blockCount)
            throw new ArgumentOutOfRangeException(nameof(blockCount),
                $"Block range [{firstBlock}, {firstBlock}+{blockCount}) is outside the image's {BlockCount} blocks.");
        return new BlockEnumerable(this, firstBlock, blockCount);
    }

    public void Dispose()
    {
        if (_ownsHandle)
            _handle.Dispose();
    }

    /// <summary>A struct enumerable: <c>foreach</c> allocates nothing per block; LINQ works too (boxed).</summary>
    public readonly struct BlockEnumerable(ImageScanner scanner, long firstBlock, long blockCount) : IEnumerable<ScannedBlock>
    {
        public Enumerator GetEnumerator() => new(scanner, firstBlock, firstBlock + blockCount);

        IEnumerator<ScannedBlock> IEnumerable<ScannedBlock>.GetEnumerator() => GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>Reads ahead in 1 MiB chunks from a pooled buffer; dispose it (foreach does) to return the buffer.</summary>
    public struct Enumerator : IEnumerator<ScannedBlock>
    {
        private readonly ImageScanner _scanner;
        private readonly long _end;
        private readonly int _blockSize;
        private byte[]? _buffer;
        private long _next;
        private long _bufferFirst, _bufferBlocks; // blocks currently held in _buffer
        private long _holeEnd;                    // blocks before this (from the last hole query) are hole blocks
        private long _dataEnd;                    // byte offset where the current data extent ends
        private ScannedBlock _current;

        internal Enumerator(ImageScanner scanner, long first, long end)
        {
            _scanner = scanner;
            _blockSize = scanner.BlockSize;
            _next = first;
            _end = end;
            _buffer = end > first ? ArrayPool<byte>.Shared.Rent(Math.Max(ReadChunkBytes, scanner.BlockSize)) : null;
            _bufferFirst = _bufferBlocks = _holeEnd = _dataEnd = 0;
            _current = default;
        }

        public readonly ScannedBlock Current => _current;

        readonly object IEnumerator.Current => _current;

        /// <summary>Not supported: enumerate again with a new enumerator.</summary>
        public void Reset() => throw new NotSupportedException("Start a new enumeration instead.");

        public bool MoveNext()
        {
            if (_next >= _end)
                return false;
            long block = _next++;
            if (block < _holeEnd)
            {
                _current = new ScannedBlock(block, true, _scanner.ZeroFingerprint);
                return true;
            }
            if (block < _bufferFirst || block >= _bufferFirst + _bufferBlocks)
            {
                if (!Fill(block))
                {
                    _current = new ScannedBlock(block, true, _scanner.ZeroFingerprint);
                    return true;
                }
            }
            var data = _buffer.AsSpan((int)((block - _bufferFirst) * _blockSize), _blockSize);
            _current = ZeroBlocks.IsZero(data)
                ? new ScannedBlock(block, true, _scanner.ZeroFingerprint)
                : new ScannedBlock(block, false, Fingerprint.Compute(data));
            return true;
        }

        // Loads the chunk starting at `block`; false when `block` lies wholly in a hole (nothing read).
        private bool Fill(long block)
        {
            long position = block * _blockSize;
            if (position >= _dataEnd)
            {
                (long dataStart, _dataEnd) = NativeFile.FindData(_scanner._handle, position, _scanner.Length);
                _holeEnd = Math.Min(dataStart / _blockSize, _end);
                if (block < _holeEnd)
                    return false;
            }
            long dataEndBlock = (_dataEnd + _blockSize - 1) / _blockSize;
            long blocks = Math.Min(Math.Min(_buffer!.Length / _blockSize, _end - block), Math.Max(1, dataEndBlock - block));
            int wanted = (int)Math.Min(blocks * _blockSize, _scanner.Length - position);
            // Short when the image shrank while we read: the rest reads as zero.
            int got = FileReads.ReadAtMost(_scanner._handle, _buffer.AsSpan(0, wanted), position);
            Interlocked.Add(ref _scanner._bytesRead, got);
            _buffer.AsSpan(got, (int)(blocks * _blockSize) - got).Clear();
            _bufferFirst = block;
            _bufferBlocks = blocks;
            return true;
        }

        public void Dispose()
        {
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
    }
}
