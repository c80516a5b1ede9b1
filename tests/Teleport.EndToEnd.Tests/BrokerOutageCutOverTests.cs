using System.Net;
using System.Net.Sockets;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Issue 19, item 3, end to end: a fenced cut-over with the broker gone for every role (storage workers, host worker,
/// orchestrator) from the moment the VM is paused. Nothing in the cut-over's pause may need the broker: the VM resumes
/// on the destination within MaxDowntime and a margin, its I/O waits for the fence the final round brings once the
/// broker is back, and the migration then finishes with every record the guest wrote intact.
/// </summary>
public sealed class BrokerOutageCutOverTests(ITestOutputHelper output)
{
    // MaxDowntime is 100 ms by default; the margin is the host's QMP `stop` and `cont` under TCG on a loaded 2-core machine.
    private static readonly TimeSpan Allowed = TimeSpan.FromMilliseconds(100 + 400);

    [Fact]
    public async Task BrokerGoneFromThePauseOn_TheVmResumesWithinMaxDowntimeAndAMargin_AndTheMigrationFinishesWhenItReturns()
    {
        var broker = TestBroker.Uri;
        var address = (await Dns.GetHostAddressesAsync(broker.Host)).First(a => a.AddressFamily == AddressFamily.InterNetwork);
        await using var relay = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(address, broker.Port));
        var logs = new CapturedLogs();
        var cut = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // On the host's own thread, as it logs the pause of the VM (not of the cut-over's rehearsal at start): nothing after
        // the pause can reach the broker.
        logs.Written += line =>
        {
            if (!cut.Task.IsCompleted && line.Contains($"VM {MigrationWorld.VmId} paused for ", StringComparison.Ordinal))
            {
                relay.Cut();
                cut.TrySetResult();
            }
        };
        var workload = GuestWorkload.Writing(193) with { VerifyBack = 64 };
        await using var world = await MigrationWorld.StartAsync(workload, logs: logs, bus: RigBus.Through((IPEndPoint)relay.EndPoint));
        await world.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");

        var id = await world.RequestMigrationAsync(new MigrationOptions(VolumeBytes: MigrationWorld.DefaultVolumeBytes, FencedCutover: true));
        await cut.Task.WaitAsync(TimeSpan.FromSeconds(120));
        // Gone far longer than the pause may last, shorter than the destination's FenceWaitTimeout (30 s).
        await Task.Delay(TimeSpan.FromSeconds(3));
        relay.Restore();

        object outcome = await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120));
        output.WriteLine($"migration {id}: {world.Watch.Describe(id)}; {(outcome as MigrationFailed)?.Reason}");
        var succeeded = Assert.IsType<MigrationSucceeded>(outcome);
        var paused = world.Watch.Last<VmPaused>(id)!;
        var resumed = world.Watch.Last<VmResumed>(id)!;
        var pause = resumed.ResumedAt - paused.PausedAt;
        output.WriteLine($"paused {pause.TotalMilliseconds:0.#} ms; downtime reported {succeeded.DowntimeMilliseconds} ms");
        Assert.True(pause <= Allowed, $"the VM stayed paused {pause.TotalMilliseconds:0.#} ms with the broker gone (allowed {Allowed.TotalMilliseconds} ms)");

        await world.Guest.WaitForAsync(g => g.HasExited, TimeSpan.FromSeconds(300), "the guest to finish its records and power off");
        string console = world.Guest.Console;
        Assert.DoesNotContain("TPW stale", console);
        Assert.DoesNotContain("TPW error", console);
        Assert.Contains("TPW exit 0", console);
        var destination = await WorkloadVerifier.VerifyAsync(world.DestinationVolume, workload.Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(workload.Records, destination.ValidRecords);
    }
}
