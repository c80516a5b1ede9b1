using System.Diagnostics;

namespace Teleport.Transfer.Source;

/// <summary>Where a copy round began: the counters its <see cref="RoundReport"/> measures from.</summary>
internal readonly struct RoundMark
{
    private readonly long _started, _wireBytes, _blocksSent, _zeroBlocks;

    public RoundMark(TransferConnection c, DataFramePipeline data)
    {
        _started = Stopwatch.GetTimestamp();
        _wireBytes = c.Writer.BytesWritten;
        _blocksSent = data.BlocksSent;
        _zeroBlocks = data.ZeroBlocksSent;
    }

    public RoundReport Report(int round, TransferConnection c, DataFramePipeline data, long dirtyAfter, bool final) =>
        new(round, data.BlocksSent - _blocksSent, data.ZeroBlocksSent - _zeroBlocks, c.Writer.BytesWritten - _wireBytes,
            Stopwatch.GetElapsedTime(_started).TotalSeconds, dirtyAfter, final)
        { RoundTripSeconds = data.RoundTrip?.TotalSeconds };
}
