using System.Text.Json;
using Teleport.Contracts;
using Teleport.Host.Worker;

namespace Teleport.Cli.Demo;

/// <summary>
/// The VM of <c>teleport demo --whole-vm</c>: the QEMU test guest, started in a source QEMU whose definition (machine
/// and devices) host-1 reads from a file, and moved whole to an incoming QEMU that host-2 starts from what the saga
/// carries. Its console is read from both: the source's process output, then the console file host-2 keeps for the
/// incoming QEMU, so <see cref="GuestLog.Continued"/> says whether the writer carried on without a reboot.
/// </summary>
public sealed class WholeVmGuest : IDemoVm
{
    private readonly QemuGuest _source;
    private readonly ConsoleFileFollower _destinationConsole;
    private readonly string _definitionFile;
    private HostWorkerNode? _destination;
    private volatile string? _failure;

    public WholeVmGuest(GuestImage image, DemoTopology topology, long records, double recordsPerSecond, ulong runId)
    {
        _source = new QemuGuest(image, topology.VmDisk, DemoTopology.VolumeId, records, recordsPerSecond, runId, topology.WorkDirectory);
        _definitionFile = topology.DefinitionFile;
        _destinationConsole = new ConsoleFileFollower(topology.DestinationConsoleLog, _source.Log);
    }

    public string Kind => "qemu";

    public ulong RunId => _source.RunId;

    /// <summary>The source QMP socket host-1 controls the VM through.</summary>
    public string HostQmpSocket => _source.HostQmpSocket;

    /// <summary>The definition file host-1 reads on DescribeVm (HostVmOptions.DefinitionFile).</summary>
    public string DefinitionFile => _definitionFile;

    /// <summary>Both consoles: records, the longest gap over the move, and whether the writer continued.</summary>
    public GuestLog Log => _source.Log;

    public long RecordsWritten => Log.RecordsWritten;

    public bool ExactCount => false;

    public TimeSpan LongestGap => Log.LongestGap;

    public string? Failure => _failure ?? _source.Failure;

    /// <summary>The destination host worker, whose VM this becomes: the demo stops the guest there at the end.</summary>
    public void Attach(HostWorkerNode destination) => _destination = destination;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // What the incoming QEMU needs to be the same machine; its disk is added by each host.
        string json = JsonSerializer.Serialize(new { arguments = _source.DefinitionArguments, diskNodeName = QemuGuest.DiskNodeName });
        await File.WriteAllTextAsync(_definitionFile, json, cancellationToken).ConfigureAwait(false);
        _destinationConsole.Start();
        await _source.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task WaitForRecordsAsync(long records, CancellationToken cancellationToken)
    {
        while (RecordsWritten < records && !Log.Done && Failure is null)
        {
            // The source QEMU quits once the move succeeded; then the VM must run on the destination host.
            if (_source.Exited && !RunsOnDestination)
            {
                _failure ??= $"the source QEMU exited and host {DemoTopology.DestinationHostId} does not run the VM";
                return;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    private bool RunsOnDestination => _destination?.Vms.ContainsKey(DemoTopology.VmId) == true;

    /// <summary>Stops the guest wherever it runs ('stop' drains its disk I/O), then reads the rest of both consoles.</summary>
    public async Task<long> StopAsync()
    {
        if (RunsOnDestination)
        {
            object answer = await _destination!.Operations.PauseAsync(new PauseVm(Guid.NewGuid(), DemoTopology.VmId, DemoTopology.DestinationHostId),
                CancellationToken.None).ConfigureAwait(false);
            if (answer is HostOperationFailed failed)
                _failure ??= $"the guest could not be stopped on {failed.HostId}: {failed.Reason}";
        }

        // Once the guest wrote on the destination the source QEMU is stale (it quits by itself, or is killed on dispose): nothing to drain there.
        if (Log.LastDestinationSequence < 0)
            await _source.StopAsync().ConfigureAwait(false);
        await _destinationConsole.DisposeAsync().ConfigureAwait(false);
        return RecordsWritten;
    }

    public async ValueTask DisposeAsync()
    {
        await _destinationConsole.DisposeAsync().ConfigureAwait(false);
        await _source.DisposeAsync().ConfigureAwait(false);
    }
}
