using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>Destination -> source: runs of blocks it lacks. u32 run count, then (u64 start, u64 count) per run.</summary>
internal static class RequestMessage
{
    public const int RunSize = 16;
    public const int MaxRuns = 4096;

    /// <summary>Validates every run against the volume and appends them to <paramref name="runs"/>.</summary>
    public static void Parse(ReadOnlySpan<byte> payload, in VolumeGeometry geometry, List<BlockRun> runs)
    {
        var r = new PayloadReader(payload, MessageType.Request);
        uint n = r.U32();
        if (n == 0 || n > MaxRuns || r.Remaining != n * RunSize)
            throw new TransferException(TransferErrorCode.BadFrame, $"Request announces {n} runs in {r.Remaining} bytes");
        for (uint i = 0; i < n; i++)
        {
            long start = r.Count64(), count = r.Count64();
            if (!geometry.Contains(start, count))
                throw new TransferException(TransferErrorCode.OutOfRange,
                    $"Request run [{start}, +{count}) is outside the volume of {geometry.BlockCount} blocks");
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
