namespace Teleport.Transfer.Protocol;

/// <summary>Fixed numbers of protocol version 3.</summary>
internal static class ProtocolConstants
{
    /// <summary>"TLPT" read as a little-endian integer: the first four payload bytes of Hello.</summary>
    public const uint Magic = 0x54504C54;

    // Version 2: compact index entries (varint zero runs, repeats) and one zstd stream per connection.
    // Version 3: index entries carry 128-bit fingerprint prefixes instead of whole fingerprints.
    public const ushort MinVersion = 3;
    public const ushort MaxVersion = 3;

    /// <summary>Bytes of the frame header: u32 length, u8 type, u8 flags, u16 reserved.</summary>
    public const int HeaderSize = 8;

    /// <summary>Most raw block bytes one Data frame may carry.</summary>
    public const int MaxBatchBytes = 1 << 20;

    /// <summary>Most runs one Data frame may list.</summary>
    public const int MaxRunsPerBatch = 256;

    /// <summary>Largest payload a peer accepts; anything longer is an oversized frame.</summary>
    public const int MaxPayload = MaxBatchBytes + 64 * 1024;

    /// <summary>Largest payload accepted before the peer is authenticated: every handshake frame (Hello, Challenge,
    /// proofs, Resume, Error) fits, so a stranger cannot make us buffer more.</summary>
    public const int MaxHandshakePayload = 4096;

    /// <summary>Target payload size of IndexBatch frames.</summary>
    public const int IndexBatchTarget = 64 * 1024;

    public const int NonceSize = 32;
    public const int MacSize = 32;
    public const int DigestSize = 32;

    /// <summary>Data frame flag: the block payload is the next piece of the connection's zstd stream.</summary>
    public const byte FlagCompressed = 0x01;

    /// <summary>Largest zstd window (log2 bytes) a destination accepts in the data stream: 128 MiB.</summary>
    public const int MaxWindowLog = 27;

    /// <summary>Data run kinds.</summary>
    public const byte RunData = 0, RunZero = 1;

    /// <summary>IndexBatch entry tags.</summary>
    public const byte EntryFingerprint = 0, EntryZeroRun = 1, EntryRepeat = 2;
}
