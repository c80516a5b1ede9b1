using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// One Data frame built ahead of sending: its runs, the raw block bytes and the bytes to put on the wire (compressed, or
/// the raw bytes themselves). The source keeps two and fills one while the other goes out.
/// </summary>
internal sealed class PreparedFrame
{
    public readonly byte[] Raw = new byte[ProtocolConstants.MaxBatchBytes];
    public readonly byte[] Compressed = new byte[StreamCompressor.Bound(ProtocolConstants.MaxBatchBytes)];
    public readonly DataRun[] Runs = new DataRun[ProtocolConstants.MaxRunsPerBatch];

    public int RunCount;
    public int RawLength;
    public long CoveredBytes;

    /// <summary>Blocks it carries, and how many of them are zero.</summary>
    public long Blocks, ZeroBlocks;
    public int BodyLength;
    public byte Flags;

    /// <summary>Seconds spent reading, hashing and compressing it.</summary>
    public double BusySeconds;

    public ReadOnlySpan<byte> Body => (Flags & ProtocolConstants.FlagCompressed) != 0
        ? Compressed.AsSpan(0, BodyLength)
        : Raw.AsSpan(0, RawLength);

    /// <summary>Empties it for the next frame.</summary>
    public void Reset()
    {
        RunCount = RawLength = 0;
        CoveredBytes = Blocks = ZeroBlocks = 0;
    }

    /// <summary>Adds <paramref name="block"/> to the last run when it continues it, else starts a run; false when no run is left.</summary>
    public bool TryAddBlock(long block, bool zero)
    {
        if (RunCount > 0)
        {
            ref var last = ref Runs[RunCount - 1];
            if (last.Zero == zero && last.Start + last.Count == block)
            {
                last = last with { Count = last.Count + 1 };
                return true;
            }
        }

        if (RunCount == Runs.Length)
            return false;
        Runs[RunCount++] = new DataRun(block, 1, zero);
        return true;
    }
}
