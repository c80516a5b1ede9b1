using Teleport.Host.Relay;
using Teleport.Host.Worker;
using Teleport.Nbd.Server;

namespace Teleport.Host.Moves;

/// <summary>
/// What the destination host started for one incoming VM: its QEMU process, its memory relay, and the NBD relay that serves the disk's
/// size until the VM's path switcher is pointed at the destination storage's export (just before 'cont').
/// </summary>
internal sealed class IncomingVm(OperationKey key, QemuLauncher qemu, NbdServer relay, IncomingMemoryRelay memory, NbdAddress storage, string exportName, string endpoint, DateTimeOffset preparedAt) : IAsyncDisposable
{
    private int _relayClosed;

    public OperationKey Key { get; } = key;

    public QemuLauncher Qemu { get; } = qemu;

    /// <summary>Carries the memory stream from the source's relay to QEMU's Unix socket.</summary>
    public IncomingMemoryRelay Memory { get; } = memory;

    /// <summary>The destination storage's NBD endpoint and export, where the disk path leads once attached.</summary>
    public NbdAddress Storage { get; } = storage;

    public string ExportName { get; } = exportName;

    /// <summary>Where this host's memory relay listens for the VM's stream (as published in IncomingVmPrepared).</summary>
    public string Endpoint { get; } = endpoint;

    public DateTimeOffset PreparedAt { get; } = preparedAt;

    /// <summary>True once the disk path leads to the storage (just before 'cont'; the VM is this host's once 'cont' succeeds).</summary>
    public bool Attached { get; set; }

    /// <summary>Closes the relay once the path switcher no longer uses it.</summary>
    public async Task CloseRelayAsync()
    {
        if (Interlocked.Exchange(ref _relayClosed, 1) != 0)
            return;
        await relay.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Kills QEMU (stopping the host worker stops the VMs it started) and closes the relay.</summary>
    public async ValueTask DisposeAsync()
    {
        await Qemu.DisposeAsync().ConfigureAwait(false);
        await Memory.DisposeAsync().ConfigureAwait(false);
        await CloseRelayAsync().ConfigureAwait(false);
    }
}
