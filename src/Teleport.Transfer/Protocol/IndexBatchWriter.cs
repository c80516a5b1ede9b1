using System.Buffers.Binary;
using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Writes an IndexBatch payload as <see cref="IndexBatchReader"/> reads it: u64 first block, then entries (tag 0 +
/// the fingerprint's 16-byte prefix, tag 1 + varint zero-run length, tag 2 + varint distance back to a listed fingerprint). One writer is
/// reused batch after batch over buffers the caller owns (pooled), so writing an entry allocates nothing.
/// </summary>
internal sealed class IndexBatchWriter
{
    /// <summary>Room a batch buffer needs: the target size plus the largest entries that may cross it.</summary>
    public const int BufferSize = ProtocolConstants.IndexBatchTarget + 64;

    private const int HeaderSize = 8;
    private byte[] _buffer = [];

    /// <summary>The buffer being written; hand it on once the batch is done.</summary>
    public byte[] Buffer => _buffer;

    /// <summary>Payload bytes written so far.</summary>
    public int Length { get; private set; }

    public bool HasEntries => Length > HeaderSize;

    /// <summary>The batch reached its target size: time to send it and begin the next.</summary>
    public bool IsFull => Length >= ProtocolConstants.IndexBatchTarget;

    /// <summary>Starts a batch in <paramref name="buffer"/> (at least <see cref="BufferSize"/> bytes) at <paramref name="firstBlock"/>.</summary>
    public void Begin(byte[] buffer, long firstBlock)
    {
        if (buffer.Length < BufferSize)
            throw new ArgumentException($"an IndexBatch buffer needs {BufferSize} bytes", nameof(buffer));
        _buffer = buffer;
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, (ulong)firstBlock);
        Length = HeaderSize;
    }

    /// <summary>A block's content, as the first 128 bits of its fingerprint (the destination verifies what it uses).</summary>
    public void Fingerprint(in Fingerprint fingerprint)
    {
        _buffer[Length++] = ProtocolConstants.EntryFingerprint;
        FingerprintPrefix.Of(fingerprint).WriteTo(_buffer.AsSpan(Length));
        Length += FingerprintPrefix.Size;
    }

    /// <summary>A run of <paramref name="count"/> zero blocks; runs longer than a u32 go as several entries.</summary>
    public void ZeroRun(long count)
    {
        while (count > 0)
        {
            uint part = (uint)Math.Min(count, uint.MaxValue);
            _buffer[Length++] = ProtocolConstants.EntryZeroRun;
            Length += Varint.Write(_buffer.AsSpan(Length), part);
            count -= part;
        }
    }

    /// <summary>A block with the content of the <paramref name="distance"/>-th most recent fingerprint entry.</summary>
    public void Repeat(long distance)
    {
        _buffer[Length++] = ProtocolConstants.EntryRepeat;
        Length += Varint.Write(_buffer.AsSpan(Length), (ulong)distance);
    }
}
