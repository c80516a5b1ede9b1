namespace Teleport.Contracts;

/// <summary>Command to the host worker: repoint the VM's disk path from its current export to the given one.</summary>
public sealed record SwitchTarget(
    Guid MigrationId,
    string VmId,
    string HostId,
    string VolumeId,
    string StorageId,
    string NbdEndpoint,
    string ExportName);
