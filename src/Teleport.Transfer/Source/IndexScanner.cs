using System.Buffers;
using System.Threading.Channels;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// Reads and hashes the volume from a block on and writes one index entry per block: runs of zero blocks as one
/// entry (the file's holes among them, found with SEEK_DATA/SEEK_HOLE and not read), content already listed on this
/// connection as a back-reference, any other block as its fingerprint. The entries go out as IndexBatch payloads in
/// pooled buffers; every fingerprint is recorded in the volume.
/// </summary>
internal sealed class IndexScanner
{
    // Repeat detection remembers this many distinct fingerprints per connection (24 B each); later repeats go as fingerprints.
    private const int MaxRepeatEntries = 1 << 22;

    private readonly SourceVolume _volume;
    // Its own read buffer: Data frames are built in the middle of a scanned chunk.
    private readonly byte[] _buffer = new byte[ProtocolConstants.MaxBatchBytes];
    private readonly byte[] _pad;
    private readonly IndexBatchWriter _writer = new();
    private readonly Dictionary<Fingerprint, long> _repeats = new();
    private long _listed;
    private long _zeroStart = -1, _zeros;

    public IndexScanner(SourceVolume volume)
    {
        _volume = volume;
        _pad = new byte[volume.Geometry.BlockSize];
    }

    /// <summary>A new connection: the destination remembers no fingerprint entries yet, so nothing is a repeat.</summary>
    public void BeginConnection()
    {
        _repeats.Clear();
        _listed = 0;
    }

    /// <summary>Scans from <paramref name="block"/> to the end of the volume, then completes <paramref name="batches"/>.</summary>
    public async Task ScanAsync(long block, ChannelWriter<ScannedBatch> batches, CancellationToken ct)
    {
        try
        {
            var geometry = _volume.Geometry;
            int perChunk = _buffer.Length / geometry.BlockSize;
            Begin(block);
            long dataEnd = block;
            while (block < geometry.BlockCount)
            {
                ct.ThrowIfCancellationRequested();
                if (block >= dataEnd)
                {
                    // Holes are zero blocks: extend the zero run without reading them (on these images, two thirds of the volume).
                    (long dataStart, dataEnd) = _volume.DataBlocks(block);
                    SkipHole(block, dataStart);
                    block = dataStart;
                    continue;
                }

                long n = Math.Min(perChunk, dataEnd - block);
                _volume.Read(_buffer, block, n);
                for (int i = 0; i < n; i++, block++)
                {
                    if (!Add(block, _buffer.AsSpan(i * geometry.BlockSize, geometry.BlockLength(block))) || !_writer.IsFull)
                        continue;
                    await batches.WriteAsync(Take(block + 1), ct).ConfigureAwait(false);
                    Begin(block + 1);
                }
            }

            EndZeroRun(block);
            if (_writer.HasEntries)
                await batches.WriteAsync(Take(block), ct).ConfigureAwait(false);
            else
                ArrayPool<byte>.Shared.Return(_writer.Buffer);
            batches.Complete();
        }
        catch (Exception e)
        {
            batches.TryComplete(e);
            throw;
        }
    }

    private void Begin(long block)
    {
        _writer.Begin(ArrayPool<byte>.Shared.Rent(IndexBatchWriter.BufferSize), block);
        _zeros = 0;
        _zeroStart = -1;
    }

    private ScannedBatch Take(long next) => new(_writer.Buffer, _writer.Length, next, _zeros);

    /// <summary>Adds one block; returns whether it wrote an entry (a zero block only extends the open zero run).</summary>
    private bool Add(long block, ReadOnlySpan<byte> data)
    {
        if (ZeroBlocks.IsZero(data))
        {
            _volume.RecordZero(block);
            if (_zeroStart < 0)
                _zeroStart = block;
            return false;
        }

        EndZeroRun(block);
        var fingerprint = _volume.Record(block, data, _pad);
        if (_repeats.TryGetValue(fingerprint, out long ordinal))
        {
            // Same content as a fingerprint already listed on this connection: a back-reference instead of 32 bytes.
            _writer.Repeat(_listed - ordinal);
            return true;
        }

        if (_repeats.Count < MaxRepeatEntries)
            _repeats.Add(fingerprint, _listed);
        _listed++;
        _writer.Fingerprint(fingerprint);
        return true;
    }

    private void SkipHole(long block, long dataStart)
    {
        if (dataStart == block)
            return;
        _volume.RecordZeros(block, dataStart - block);
        if (_zeroStart < 0)
            _zeroStart = block;
    }

    private void EndZeroRun(long block)
    {
        if (_zeroStart < 0)
            return;
        _writer.ZeroRun(block - _zeroStart);
        _zeros += block - _zeroStart;
        _zeroStart = -1;
    }
}
