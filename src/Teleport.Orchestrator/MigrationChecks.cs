using System.Text.RegularExpressions;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>
/// What the saga refuses to act on, and the failure reasons it keeps: each check returns null when all is well,
/// else the problem in words for the row's FailureReason.
/// </summary>
public static partial class MigrationChecks
{
    // Ids become queue names and URIs: keep them to a safe alphabet.
    public static string? RequestProblem(MigrationState saga)
    {
        foreach (var (name, value) in new[]
                 {
                     ("VmId", saga.VmId), ("VolumeId", saga.VolumeId), ("SourceStorageId", saga.SourceStorageId),
                     ("DestinationStorageId", saga.DestinationStorageId), ("HostId", saga.HostId),
                 })
        {
            if (!SafeId().IsMatch(value))
            {
                return $"{name} '{value}' must be 1-128 characters of letters, digits, '.', '_' or '-'";
            }
        }

        if (saga.DestinationHostId is { } destinationHost && !SafeId().IsMatch(destinationHost))
        {
            return $"DestinationHostId '{destinationHost}' must be 1-128 characters of letters, digits, '.', '_' or '-'";
        }

        if (saga.DestinationHostId == saga.HostId)
        {
            return $"the VM already runs on host '{saga.HostId}': a whole-VM move needs another destination host";
        }

        if (saga.SourceStorageId == saga.DestinationStorageId)
        {
            return $"source and destination are the same storage '{saga.SourceStorageId}'";
        }

        return MemoryOptionsProblem(saga.MemoryOptions);
    }

    // QEMU 7.2 accepts post-copy with multifd, then its incoming side aborts when post-copy starts.
    private static string? MemoryOptionsProblem(MemoryMigrationOptions memory) => memory switch
    {
        { PostCopy: true, Multifd: true } => "Memory.PostCopy cannot be combined with Memory.Multifd (QEMU's incoming side aborts)",
        { PostCopyAfterRounds: < 1 or > MemoryMigrationOptions.MaxPostCopyAfterRounds } =>
            $"Memory.PostCopyAfterRounds {memory.PostCopyAfterRounds} must be 1-{MemoryMigrationOptions.MaxPostCopyAfterRounds}",
        { PostCopyAfterSeconds: < 1 or > MemoryMigrationOptions.MaxPostCopyAfterSeconds } =>
            $"Memory.PostCopyAfterSeconds {memory.PostCopyAfterSeconds} must be 1-{MemoryMigrationOptions.MaxPostCopyAfterSeconds}",
        _ => null,
    };

    // The source would be sent to connect with these: an answer without them (or from another storage) is useless.
    public static string? PreparedProblem(MigrationState saga, DestinationPrepared prepared) =>
        prepared.DestinationStorageId != saga.DestinationStorageId
            ? $"it came from storage '{prepared.DestinationStorageId}', not the destination '{saga.DestinationStorageId}'"
            : string.IsNullOrWhiteSpace(prepared.DataEndpoint) ? "no data endpoint"
            : string.IsNullOrWhiteSpace(prepared.Secret) && !prepared.MutualTls ? "no secret"
            : string.IsNullOrWhiteSpace(prepared.NbdEndpoint) ? "no NBD endpoint for the switch"
            : string.IsNullOrWhiteSpace(prepared.ExportName) ? "no export name for the switch"
            : saga.Run.IncomingRequested && prepared.ExportName != saga.VolumeId
                ? $"it exports the volume as '{prepared.ExportName}', but the incoming VM was prepared for export '{saga.VolumeId}'"
            : null;

    // The destination host starts QEMU from this definition: it must name the disk and say how large it is.
    public static string? DescribedProblem(MigrationState saga, VmDescribed described) =>
        described.HostId != saga.HostId ? $"it came from host '{described.HostId}', not the VM's host '{saga.HostId}'"
        : described.Definition is null ? "no VM definition"
        : described.Definition.Arguments is null || described.Definition.Arguments.Count == 0 ? "the VM definition has no QEMU arguments"
        : string.IsNullOrWhiteSpace(described.Definition.DiskNodeName) ? "the VM definition names no disk node"
        : described.Definition.DiskBytes <= 0 ? $"the VM definition's disk size {described.Definition.DiskBytes} is not positive"
        : null;

    // The source host would be sent to migrate the memory there.
    public static string? IncomingProblem(MigrationState saga, IncomingVmPrepared prepared) =>
        prepared.HostId != saga.DestinationHostId ? $"it came from host '{prepared.HostId}', not the destination host '{saga.DestinationHostId}'"
        : string.IsNullOrWhiteSpace(prepared.MigrationEndpoint) ? "no migration endpoint"
        : null;

    public static string Reason(TransferFailed failed) => $"storage {failed.StorageId} failed in {failed.Phase}: {failed.Reason}";

    public static string Reason(HostOperationFailed failed) => $"host {failed.HostId} could not {failed.Operation}: {failed.Reason}";

    public static string Reason(MigrationDeadlineExpired expired) => $"deadline of state {expired.State} passed at {expired.Deadline:O}";

    public static string Reason(CancelMigration cancel) => $"cancelled: {cancel.Reason}";

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeId();
}
