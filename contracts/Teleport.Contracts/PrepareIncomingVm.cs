namespace Teleport.Contracts;

/// <summary>
/// Command to the destination host worker of a whole-VM move: start the VM's incoming QEMU (paused, -incoming defer,
/// its disk behind this host's own path switcher, whose upstream is ExportName at the destination storage StorageId)
/// and listen for its memory.
/// </summary>
/// <remarks>Memory: the migration's memory options; the incoming side must enable multifd too when the source uses it (null: no multifd).</remarks>
/// <remarks>NbdEndpoint: informational, empty when the saga sends this before the destination storage is prepared; the host connects only to the endpoint its configuration gives StorageId.</remarks>
/// <remarks>Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.</remarks>
public sealed record PrepareIncomingVm(
    Guid MigrationId,
    string VmId,
    string HostId,
    string SourceHostId,
    VmDefinition Definition,
    string StorageId,
    string NbdEndpoint,
    string ExportName,
    int Attempt = 1,
    MemoryMigrationOptions? Memory = null);
