using System.Collections;

namespace Teleport.Blocks;

/// <summary>
/// The content of one image as similarity needs it: per block, zero or a 128-bit content key (the first half of
/// its SHA-256). Computed once per image, in parallel over block ranges. 128 bits keep accidental collisions
/// out of statistics; nothing is rebuilt from these keys, so forgery does not matter here.
/// </summary>
public sealed class ImageDigest
{
    private readonly UInt128[] _keys;
    private readonly BitArray _zero;

    private ImageDigest(string path, UInt128[] keys, BitArray zero)
    {
        Path = path;
        _keys = keys;
        _zero = zero;
    }

    public string Path { get; }

    public int BlockSize { get; private init; }

    /// <summary>Image size in bytes.</summary>
    public long Length { get; private init; }

    /// <summary>Blocks in the image; a final partial block counts.</summary>
    public long Blocks => _keys.LongLength;

    public long ZeroBlocks { get; private init; }

    /// <summary>Bytes read to compute the digest (holes are not read).</summary>
    public long BytesRead { get; private init; }

    public bool IsZero(long block) => _zero[checked((int)block)];

    public UInt128 Key(long block) => _keys[block];

    /// <summary>Keys of the non-zero blocks, in block order.</summary>
    public IEnumerable<UInt128> NonZeroKeys()
    {
        for (long block = 0; block < Blocks; block++)
            if (!IsZero(block))
                yield return _keys[block];
    }

    /// <summary>Reads and fingerprints <paramref name="path"/> using every core.</summary>
    public static ImageDigest Compute(string path, int blockSize = BlockSizes.Default, CancellationToken cancellationToken = default)
    {
        using var scanner = ImageScanner.Open(path, blockSize);
        if (scanner.BlockCount > int.MaxValue)
            throw new ArgumentException($"{path} has {scanner.BlockCount} blocks of {blockSize} bytes; use a larger block size.");
        int blocks = (int)scanner.BlockCount;
        var keys = new UInt128[blocks];
        var zero = new BitArray(blocks);
        const int rangeBlocks = 4096;
        int ranges = (blocks + rangeBlocks - 1) / rangeBlocks;
        long zeroBlocks = 0;
        // BitArray is not thread-safe: each range fills a private list of zero blocks, merged under a lock.
        object gate = new object();
        Parallel.For(0, ranges, new ParallelOptions { CancellationToken = cancellationToken }, range =>
        {
            long first = (long)range * rangeBlocks;
            long count = Math.Min(rangeBlocks, blocks - first);
            var zeros = new List<int>();
            foreach (var block in scanner.Blocks(first, count))
            {
                if (block.IsZero)
                    zeros.Add((int)block.Number);
                else
                    keys[block.Number] = new UInt128(block.Fingerprint.Prefix64, block.Fingerprint.Second64);
            }
            lock (gate)
            {
                foreach (int z in zeros)
                    zero[z] = true;
                zeroBlocks += zeros.Count;
            }
        });
        return new ImageDigest(path, keys, zero)
        {
            BlockSize = blockSize, Length = scanner.Length, ZeroBlocks = zeroBlocks, BytesRead = scanner.BytesRead,
        };
    }
}
