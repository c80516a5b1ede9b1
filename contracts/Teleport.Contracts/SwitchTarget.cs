namespace Teleport.Contracts;

/// <summary>Command to the host worker: repoint the VM's disk path from its current export to the given one.</summary>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record SwitchTarget(
    Guid MigrationId,
    string VmId,
    string HostId,
    string VolumeId,
    string StorageId,
    string NbdEndpoint,
    string ExportName,
    int Attempt = 1);
