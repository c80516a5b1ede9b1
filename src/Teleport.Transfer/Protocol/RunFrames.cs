using System.Runtime.InteropServices;
using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>Sends a list of runs as frames of one run-list type (Request, UrgentRequest, Fence), at most <see cref="RequestMessage.MaxRuns"/> runs each.</summary>
internal static class RunFrames
{
    public static async ValueTask SendAsync(TransferConnection c, MessageType type, List<BlockRun> runs, CancellationToken ct)
    {
        for (int i = 0; i < runs.Count; i += RequestMessage.MaxRuns)
            await SendFrameAsync(c, type, runs, i, Math.Min(RequestMessage.MaxRuns, runs.Count - i), ct).ConfigureAwait(false);
    }

    public static ValueTask SendFrameAsync(TransferConnection c, MessageType type, List<BlockRun> runs, int start, int count, CancellationToken ct)
    {
        int size = 4 + count * RequestMessage.RunSize;
        RequestMessage.Write(c.Writer.GetPayloadSpan(size), CollectionsMarshal.AsSpan(runs).Slice(start, count));
        return c.Writer.CommitAsync(type, 0, size, ct);
    }
}
