namespace Teleport.Transfer.Protocol;

/// <summary>
/// Source -> destination block batch. Payload: u64 seq, u16 run count, runs (u64 start, u32 count, u8 kind 0=data 1=zero),
/// u32 raw length, then the data runs' bytes in order: raw, or (flag <see cref="ProtocolConstants.FlagCompressed"/>) the next piece of the connection's zstd stream.
/// </summary>
internal static class DataMessage
{
    public const int RunSize = 13;

    public static int HeaderSize(int runCount) => 8 + 2 + runCount * RunSize + 4;

    /// <summary>
    /// Validates the header against the volume (runs inside it, ascending and disjoint, byte counts adding up) and
    /// returns the block bytes as sent (still compressed when flagged).
    /// </summary>
    public static ReadOnlySpan<byte> Parse(ReadOnlySpan<byte> payload, byte flags, in VolumeGeometry geometry,
        List<DataRun> runs, out long seq, out int rawLength)
    {
        if ((flags & ~ProtocolConstants.FlagCompressed) != 0)
            throw new TransferException(TransferErrorCode.BadFrame, $"Data frame has unknown flags 0x{flags:x2}");
        var r = new PayloadReader(payload, MessageType.Data);
        seq = r.Count64();
        int n = r.U16();
        if (n == 0 || n > ProtocolConstants.MaxRunsPerBatch)
            throw new TransferException(TransferErrorCode.BadFrame, $"Data frame lists {n} runs (1..{ProtocolConstants.MaxRunsPerBatch} allowed)");
        long expected = 0, next = 0;
        for (int i = 0; i < n; i++)
        {
            long start = r.Count64();
            uint count = r.U32();
            byte kind = r.U8();
            if (kind > ProtocolConstants.RunZero)
                throw new TransferException(TransferErrorCode.BadFrame, $"Data run kind {kind} is unknown");
            if (count > int.MaxValue || !geometry.Contains(start, count))
                throw new TransferException(TransferErrorCode.OutOfRange,
                    $"Data run [{start}, +{count}) is outside the volume of {geometry.BlockCount} blocks");
            if (start < next)
                throw new TransferException(TransferErrorCode.OutOfRange, $"Data run at block {start} overlaps or precedes the previous run");
            next = start + count;
            bool zero = kind == ProtocolConstants.RunZero;
            if (!zero)
            {
                expected += geometry.RunBytes(start, count);
                if (expected > ProtocolConstants.MaxBatchBytes)
                    throw new TransferException(TransferErrorCode.Oversized, $"Data frame carries more than {ProtocolConstants.MaxBatchBytes} block bytes");
            }

            runs.Add(new DataRun(start, (int)count, zero));
        }

        uint raw = r.U32();
        if (raw != expected)
            throw new TransferException(TransferErrorCode.BadFrame, $"Data frame says {raw} raw bytes but its runs cover {expected}");
        rawLength = (int)raw;
        var body = r.Rest();
        if ((flags & ProtocolConstants.FlagCompressed) == 0 && body.Length != rawLength)
            throw new TransferException(TransferErrorCode.BadFrame, $"uncompressed Data frame has {body.Length} block bytes, expected {rawLength}");
        return body;
    }

    /// <summary>Writes the header; returns its length (the block bytes follow).</summary>
    public static int WriteHeader(Span<byte> payload, long seq, ReadOnlySpan<DataRun> runs, int rawLength)
    {
        var w = new PayloadWriter(payload);
        w.U64((ulong)seq);
        w.U16((ushort)runs.Length);
        foreach (var run in runs)
        {
            w.U64((ulong)run.Start);
            w.U32((uint)run.Count);
            w.U8(run.Zero ? ProtocolConstants.RunZero : ProtocolConstants.RunData);
        }

        w.U32((uint)rawLength);
        return w.Written;
    }
}
