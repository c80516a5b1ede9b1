using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// A live migration with the fenced cut-over (MigrationOptions.FencedCutover), every part real: the destination serves
/// the volume once the final round is announced, the host switches and the VM resumes without waiting for the
/// destination's verdict. The guest reads back, after every record, the records 1 and 64 before it, across the switch
/// too: it must never see anything but what it wrote. (After a converged pre-copy the source's idle rounds usually carry
/// the last dirty blocks before FinalSync reaches it, so few or no blocks are fenced here; reads of fenced blocks in
/// flight are tested in Teleport.Transfer.Tests/Fencing and Teleport.Storage.Tests' FencedCutoverTests.)
/// </summary>
public sealed class FencedCutoverTests(ITestOutputHelper output)
{
    private const ulong Run = 19;

    [Fact]
    public async Task WritingGuestMovesWithAFencedCutover_NeverReadsStaleData_AndEveryRecordEndsOnTheDestination()
    {
        var workload = GuestWorkload.Writing(Run) with { VerifyBack = 64 };
        var logs = new CapturedLogs();
        await using var world = await MigrationWorld.StartAsync(workload, logs: logs);
        await world.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");

        var id = await world.RequestMigrationAsync(new MigrationOptions(
            VolumeBytes: MigrationWorld.DefaultVolumeBytes, FencedCutover: true));
        object outcome = await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120));
        output.WriteLine($"migration {id}: {string.Join("\n", world.Watch.Of(id).Select(e => e.Message))}");
        var succeeded = Assert.IsType<MigrationSucceeded>(outcome);
        output.WriteLine(DowntimeReport.From(world.Watch, id).ToString());

        var events = world.Watch.Of(id).Select(e => e.Message).ToList();
        var completed = Assert.Single(events.OfType<MigrationCompleted>().Distinct());
        Assert.True(completed.Verified);
        Assert.Empty(events.OfType<HostOperationFailed>());
        Assert.Empty(events.OfType<TransferFailed>());
        Assert.Equal(world.Destination.Id, world.Host.Node.Vms[MigrationWorld.VmId].CurrentStorageId);
        // The destination served the volume before it verified it; the saga resumed on the switch alone.
        output.WriteLine(Assert.Single(logs.Lines, l => l.Contains("served before verification", StringComparison.Ordinal)));
        var switched = Assert.Single(events.OfType<TargetSwitched>().Distinct());
        Assert.Equal(world.Destination.Id, switched.StorageId);
        Assert.True(succeeded.DowntimeMilliseconds > 0);

        await world.Guest.WaitForAsync(g => g.HasExited, TimeSpan.FromSeconds(240), "the guest to finish its records and power off");
        string console = world.Guest.Console;
        output.WriteLine(console.Split('\n').LastOrDefault(l => l.StartsWith("TPW done", StringComparison.Ordinal)) ?? "(no TPW done line)");
        Assert.DoesNotContain("TPW stale", console);
        Assert.DoesNotContain("I/O error", console);
        Assert.Contains($"TPW done last={workload.Records - 1} verified=", console);
        Assert.Contains("TPW exit 0", console);

        var destination = await WorkloadVerifier.VerifyAsync(world.DestinationVolume, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(workload.Records - 1, destination.HighestSequence);
        Assert.Equal(workload.Records, destination.ValidRecords);
    }
}
