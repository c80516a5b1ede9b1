using Teleport.Blocks;

namespace Teleport.Transfer.Source;

/// <summary>
/// Fills a Data frame with pending blocks, in ascending order from where the last frame ended: reads them,
/// fingerprints them, and splits them into data and zero runs with the data packed into the frame's raw buffer.
/// One frame is built at a time (on whichever thread), never two at once.
/// </summary>
internal sealed class FrameBuilder
{
    private readonly SourceVolume _volume;
    private readonly PendingBlocks _pending;
    private readonly byte[] _pad;
    private long _cursor;

    public FrameBuilder(SourceVolume volume, PendingBlocks pending)
    {
        _volume = volume;
        _pending = pending;
        _pad = new byte[volume.Geometry.BlockSize];
    }

    /// <summary>Fills <paramref name="frame"/> with at most <paramref name="maxDataBytes"/> of data (zero blocks are free); it has no runs when nothing is pending.</summary>
    public void Fill(PreparedFrame frame, int maxDataBytes)
    {
        frame.Reset();
        int blockSize = _volume.Geometry.BlockSize;
        int room = Math.Clamp(maxDataBytes, blockSize, frame.Raw.Length);
        int readAt = 0; // raw bytes read so far (data may be packed tighter behind it)
        // Runs in a frame must ascend: wrap around to the start of the volume only between frames.
        while (_pending.TryTake(ref _cursor, mayWrap: frame.RunCount == 0, (room - readAt) / blockSize, out long start, out long count))
        {
            _volume.Read(frame.Raw.AsSpan(readAt), start, count);
            if (!Pack(frame, start, count, readAt))
                return;
            readAt = frame.RawLength;
        }
    }

    /// <summary>Adds blocks read at <paramref name="at"/> to the frame; false when it ran out of runs first.</summary>
    private bool Pack(PreparedFrame frame, long start, long count, int at)
    {
        var geometry = _volume.Geometry;
        for (long b = start; b < start + count; b++)
        {
            int length = geometry.BlockLength(b);
            var data = frame.Raw.AsSpan(at, length);
            bool zero = ZeroBlocks.IsZero(data);
            if (!frame.TryAddBlock(b, zero))
            {
                // No room for another run: the rest of this range goes back to pending.
                _pending.Add(b, start + count - b);
                _cursor = b;
                return false;
            }

            if (zero)
            {
                _volume.RecordZero(b);
                frame.ZeroBlocks++;
            }
            else
            {
                _volume.Record(b, data, _pad);
                if (at != frame.RawLength)
                    data.CopyTo(frame.Raw.AsSpan(frame.RawLength));
                frame.RawLength += length;
            }

            frame.CoveredBytes += length;
            frame.Blocks++;
            at += length;
        }

        return true;
    }
}
