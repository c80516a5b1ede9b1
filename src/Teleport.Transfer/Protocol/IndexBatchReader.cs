using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Validating reader of an IndexBatch payload: u64 first block, then entries: tag 0 + the 16-byte prefix of the block's fingerprint (one block);
/// tag 1 + varint n ≥ 1 (a run of n zero blocks); tag 2 + varint d ≥ 1 (one block with the content of the d-th most
/// recent fingerprint entry on this connection). The batch must start where the receiver expects and stay inside the
/// volume. Whether d fingerprint entries were listed is the session's check.
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

    /// <summary>The first block a batch names (for looking ahead; the reader checks it against the expected one).</summary>
    public static long FirstBlock(ReadOnlySpan<byte> payload) => new PayloadReader(payload, MessageType.IndexBatch).Count64();

    /// <summary>The block after the last entry read.</summary>
    public long Next { get; private set; }

    public bool TryRead(out IndexBatchEntry entry)
    {
        entry = default;
        if (_reader.Remaining == 0)
            return false;
        byte tag = _reader.U8();
        long count = 1, repeat = 0;
        FingerprintPrefix prefix = default;
        switch (tag)
        {
            case ProtocolConstants.EntryFingerprint:
                prefix = FingerprintPrefix.Read(_reader.Bytes(FingerprintPrefix.Size));
                break;
            case ProtocolConstants.EntryZeroRun:
                count = _reader.Varint();
                if (count == 0)
                    throw new TransferException(TransferErrorCode.BadFrame, "IndexBatch zero run of length 0");
                break;
            case ProtocolConstants.EntryRepeat:
                repeat = _reader.Varint();
                if (repeat == 0)
                    throw new TransferException(TransferErrorCode.BadFrame, $"IndexBatch repeat at block {Next} refers to entry 0 back");
                break;
            default:
                throw new TransferException(TransferErrorCode.BadFrame, $"IndexBatch entry tag {tag} is unknown");
        }

        if (count > _blockCount - Next)
            throw new TransferException(TransferErrorCode.OutOfRange,
                $"IndexBatch entry at block {Next} (+{count}) runs past the volume's {_blockCount} blocks");
        entry = new IndexBatchEntry(Next, count, tag == ProtocolConstants.EntryZeroRun, prefix, repeat);
        Next += count;
        return true;
    }
}
