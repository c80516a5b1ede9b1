namespace Teleport.Cli.Commands;

/// <summary>The JSON object <c>teleport send|receive --json</c> prints when the migration completes.</summary>
internal sealed record TransferSummary(
    long BytesOnWire,
    long IndexBytes,
    long DataBytes,
    long Blocks,
    long ZeroBlocks,
    long BlocksFromIndex,
    long BlocksFromVolume,
    long BlocksSent,
    int Rounds,
    double Seconds,
    bool Verified,
    int Reconnects,
    string VolumeDigest);
