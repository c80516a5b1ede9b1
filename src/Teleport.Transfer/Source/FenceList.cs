using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>The final round's announcement for a fenced early resume: every block it will send, then FenceEnd with their number.</summary>
internal static class FenceList
{
    public static async ValueTask SendAsync(TransferConnection c, List<BlockRun> runs, CancellationToken ct)
    {
        if (runs.Count > 0)
            await RunFrames.SendAsync(c, MessageType.Fence, runs, ct).ConfigureAwait(false);
        await c.SendAsync(new FenceEndMessage(runs.Sum(r => r.Count)), ct).ConfigureAwait(false);
    }
}
