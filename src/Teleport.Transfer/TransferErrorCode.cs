namespace Teleport.Transfer;

/// <summary>Error codes carried by Error frames and by <see cref="TransferException"/>.</summary>
public enum TransferErrorCode : ushort
{
    /// <summary>Malformed frame: truncated payload, bad length field, reserved bits set.</summary>
    BadFrame = 1,
    /// <summary>A frame type the receiver does not know.</summary>
    UnknownMessage = 2,
    /// <summary>A frame longer than the protocol allows.</summary>
    Oversized = 3,
    /// <summary>A block number, run or sequence number outside what the session allows.</summary>
    OutOfRange = 4,
    /// <summary>A known frame at a point of the conversation where it is not allowed.</summary>
    UnexpectedMessage = 5,
    /// <summary>No protocol version both sides speak.</summary>
    UnsupportedVersion = 6,
    /// <summary>The peer could not prove it knows the migration secret.</summary>
    AuthenticationFailed = 7,
    /// <summary>The peer is serving another migration.</summary>
    WrongMigration = 8,
    /// <summary>Volume geometry the receiver cannot accept.</summary>
    VolumeMismatch = 9,
    /// <summary>The final digests of source and destination differ.</summary>
    VerificationFailed = 10,
    /// <summary>Failure inside the peer (I/O error on the volume, ...).</summary>
    Internal = 11,
    /// <summary>The connection ended (also in the middle of a frame).</summary>
    ConnectionLost = 12,
}
