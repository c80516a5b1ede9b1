namespace Teleport.Cli.Demo;

/// <summary>
/// The JSON object <c>teleport demo --json</c> prints. <see cref="Verified"/> is true only when the destination
/// proved its volume equal to the source at pause time, every record the VM wrote (before, during and after the
/// cut-over) is on the destination in order and intact, and the blocks nobody wrote equal the source's; after a
/// whole-VM move (<see cref="WholeVm"/>) also the guest's writer carried on in the destination QEMU (<see cref="GuestContinued"/>).
/// </summary>
public sealed record DemoResult(
    string State,
    Guid MigrationId,
    long VolumeBytes,
    long BytesOnWire,
    double WireRatio,
    long Blocks,
    long ZeroBlocks,
    long BlocksFromIndex,
    long BlocksSent,
    int Rounds,
    double? DowntimeMs,
    double? PausedToVerifiedMs,
    double? PausedToSwitchedMs,
    bool Verified,
    bool DestinationVerified,
    bool? RestMatchesSource,
    bool RecordsIntact,
    string Vm,
    bool WholeVm,
    string? DestinationHost,
    long? MemoryBytes,
    double? QemuDowntimeMs,
    double? StorageDowntimeMs,
    bool? GuestContinued,
    long RecordsWritten,
    long RecordsVerified,
    long RecordsAfterCutover,
    double VmLongestGapMs,
    double MigrationSeconds,
    double Seconds,
    string? FailedPhase,
    string? Failure)
{
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
}
