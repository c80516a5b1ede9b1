namespace Teleport.Transfer;

/// <summary>
/// Outcome of a completed, verified migration.
/// </summary>
/// <param name="BytesOnWire">All frame bytes both ways over all connections (headers included; TLS/TCP overhead not).</param>
/// <param name="IndexBytes">Bytes of the index stream.</param>
/// <param name="DataBytes">Bytes of Data frames (compressed block data plus their headers).</param>
/// <param name="Blocks">Blocks in the volume.</param>
/// <param name="ZeroBlocks">Blocks found zero in the index phase.</param>
/// <param name="BlocksFromIndex">Blocks the destination rebuilt from its local index.</param>
/// <param name="BlocksSent">Blocks carried in Data frames over all rounds (a block dirtied twice counts twice).</param>
/// <param name="Rounds">Copy rounds including the final one.</param>
/// <param name="Seconds">Wall time from the first connection to verification.</param>
/// <param name="Verified">Both sides computed the same volume digest at the final round.</param>
/// <param name="Reconnects">Connections after the first.</param>
/// <param name="VolumeDigest">SHA-256 over the volume geometry and every block's fingerprint.</param>
/// <param name="BlocksFromVolume">Blocks the destination copied from another block of the same volume (repeats inside it).</param>
public sealed record TransferResult(
    long BytesOnWire,
    long IndexBytes,
    long DataBytes,
    long Blocks,
    long ZeroBlocks,
    long BlocksFromIndex,
    long BlocksSent,
    int Rounds,
    double Seconds,
    bool Verified,
    int Reconnects,
    byte[] VolumeDigest,
    long BlocksFromVolume = 0)
{
    /// <summary>Blocks the destination pulled from its buddies (storage workers of its site) instead of the source.</summary>
    public long BlocksFromBuddies { get; init; }

    /// <summary>Block bytes pulled from buddies over the LAN (not part of <see cref="BytesOnWire"/>).</summary>
    public long BuddyBytes { get; init; }

    /// <summary>Blocks buddies sent that did not match their fingerprints; each was asked from the source.</summary>
    public long BuddyBlocksRejected { get; init; }
}
