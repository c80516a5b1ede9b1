using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// One Data frame built ahead of sending: its runs, the raw block bytes and the bytes to put on the wire (compressed, or
/// the raw bytes themselves). The source keeps two and fills one while the other goes out.
/// </summary>
internal sealed class PreparedFrame
{
    public readonly byte[] Raw = new byte[ProtocolConstants.MaxBatchBytes];
    public readonly byte[] Compressed = new byte[StreamCompressor.Bound(ProtocolConstants.MaxBatchBytes)];
    public readonly DataRun[] Runs = new DataRun[ProtocolConstants.MaxRunsPerBatch];

    /// <summary>Zero-padding for a partial last block (frames are built on another thread than the index scan).</summary>
    public byte[] Pad = [];
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
}
