using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Runs of blocks: u32 run count, then (u64 start, u64 count) per run. Request and UrgentRequest (destination -> source:
/// blocks it lacks; urgent ones a guest waits for) and Fence (source -> destination: what the final round will send).
/// </summary>
internal static class RequestMessage
{
    public const int RunSize = 16;
    public const int MaxRuns = 4096;

    /// <summary>Validates every run against the volume and appends them to <paramref name="runs"/>.</summary>
    public static void Parse(ReadOnlySpan<byte> payload, in VolumeGeometry geometry, List<BlockRun> runs, MessageType type = MessageType.Request)
    {
        var r = new PayloadReader(payload, type);
        uint n = r.U32();
        if (n == 0 || n > MaxRuns || r.Remaining != n * RunSize)
            throw new TransferException(TransferErrorCode.BadFrame, $"{type} announces {n} runs in {r.Remaining} bytes");
        for (uint i = 0; i < n; i++)
        {
            long start = r.Count64(), count = r.Count64();
            if (!geometry.Contains(start, count))
                throw new TransferException(TransferErrorCode.OutOfRange,
                    $"{type} run [{start}, +{count}) is outside the volume of {geometry.BlockCount} blocks");
            runs.Add(new BlockRun(start, count));
        }
    }

    public static int Write(Span<byte> payload, ReadOnlySpan<BlockRun> runs)
    {
        var w = new PayloadWriter(payload);
        w.U32((uint)runs.Length);
        foreach (var run in runs)
        {
            w.U64((ulong)run.Start);
            w.U64((ulong)run.Count);
        }

        return w.Written;
    }
}
