using System.Buffers.Binary;
using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Validating reader of an IndexBatch payload: u64 first block, then entries (tag 0 + 32-byte fingerprint: one block;
/// tag 1 + u32 count: a run of zero blocks). The batch must start where the receiver expects and stay inside the volume.
/// </summary>
internal ref struct IndexBatchReader
{
    private PayloadReader _reader;
    private readonly long _blockCount;

    public IndexBatchReader(ReadOnlySpan<byte> payload, in VolumeGeometry geometry, long expectedFirst)
    {
        _reader = new PayloadReader(payload, MessageType.IndexBatch);
        _blockCount = geometry.BlockCount;
        long first = _reader.Count64();
        if (first != expectedFirst)
            throw new TransferException(TransferErrorCode.OutOfRange, $"IndexBatch starts at block {first}, expected {expectedFirst}");
        if (_reader.Remaining == 0)
            throw new TransferException(TransferErrorCode.BadFrame, "IndexBatch has no entries");
        Next = first;
    }

    /// <summary>The block after the last entry read.</summary>
    public long Next { get; private set; }

    public bool TryRead(out IndexBatchEntry entry)
    {
        entry = default;
        if (_reader.Remaining == 0)
            return false;
        byte tag = _reader.U8();
        long count;
        Fingerprint fingerprint = default;
        switch (tag)
        {
            case ProtocolConstants.EntryFingerprint:
                fingerprint = Fingerprint.Read(_reader.Bytes(Fingerprint.Size));
                count = 1;
                break;
            case ProtocolConstants.EntryZeroRun:
                count = BinaryPrimitives.ReadUInt32LittleEndian(_reader.Bytes(4));
                if (count == 0)
                    throw new TransferException(TransferErrorCode.BadFrame, "IndexBatch zero run of length 0");
                break;
            default:
                throw new TransferException(TransferErrorCode.BadFrame, $"IndexBatch entry tag {tag} is unknown");
        }

        if (count > _blockCount - Next)
            throw new TransferException(TransferErrorCode.OutOfRange,
                $"IndexBatch entry at block {Next} (+{count}) runs past the volume's {_blockCount} blocks");
        entry = new IndexBatchEntry(Next, count, tag == ProtocolConstants.EntryZeroRun, fingerprint);
        Next += count;
        return true;
    }
}
