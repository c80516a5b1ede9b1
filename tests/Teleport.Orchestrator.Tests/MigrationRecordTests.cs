using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>The saga row answers what operators ask: where the VM's disk goes, when each phase began and took, the figures.</summary>
public sealed class MigrationRecordTests
{
    [Fact]
    public async Task The_row_keeps_the_destination_export_and_when_each_phase_began()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);

        await m.DriveTo("Preparing");
        var row = await host.Row(m.Id);
        Assert.Equal(host.Clock.GetUtcNow(), row!.PhaseEnteredAt);

        host.Clock.Advance(TimeSpan.FromSeconds(3));
        await host.Publish(m.Prepared());
        row = await host.WaitForState(m.Id, "Indexing");
        Assert.Equal((DestinationNbd, DestinationExport), (row.Run.NbdEndpoint, row.Run.ExportName));
        Assert.Equal(host.Clock.GetUtcNow(), row.PhaseEnteredAt);

        await host.Publish(m.IndexStreamed());
        await host.Publish(m.BlocksRequested());
        await host.Publish(m.Threshold());
        row = await host.WaitForState(m.Id, "Pausing");
        var cutOverBegan = host.Clock.GetUtcNow();
        Assert.Equal(cutOverBegan, row.PhaseEnteredAt);

        // Pausing, Switching and Resuming are one phase: it keeps its start.
        host.Clock.Advance(TimeSpan.FromSeconds(1));
        await host.Publish(m.Paused());
        row = await host.WaitForState(m.Id, "Switching");
        Assert.Equal(MigrationPhases.CutOver, row.Phase);
        Assert.Equal(cutOverBegan, row.PhaseEnteredAt);

        await host.Publish(m.Switched());
        await host.Publish(m.Completed());
        await host.WaitForState(m.Id, "Resuming");
        await host.Publish(m.Resumed());
        row = await host.WaitForState(m.Id, "Succeeded");

        var timings = MigrationTimings.Of(row);
        Assert.Equal(TimeSpan.FromSeconds(20 - 1), timings.Index);
        Assert.Equal(TimeSpan.FromSeconds(40 - 21), timings.Copy);
        Assert.Equal(TimeSpan.FromMilliseconds(350), timings.Downtime);
        Assert.Equal(TimeSpan.FromMilliseconds(200), timings.PausedToVerified);
        Assert.Equal(TimeSpan.FromMilliseconds(100), timings.PausedToSwitched);
        Assert.Equal(row.Run.SucceededAt - row.RequestedAt, timings.Total);
        Assert.NotNull(timings.Prepare);
        Assert.Equal((1L << 30, 25_000_000L, 150_000L, 3, 1), (row.Run.VolumeBytes, row.Run.BytesOnWire, row.Run.BlocksFromIndex, row.Run.Rounds, row.Attempt));
        // Every state change is logged with the migration's id and the event that caused it.
        Assert.Contains(host.Logs.Lines, l => l.Contains($"Migration {m.Id} of VM {Vm}: Preparing -> Indexing on DestinationPrepared"));
        Assert.Contains(host.Logs.Lines, l => l.Contains($"Migration {m.Id} of VM {Vm}: Resuming -> Succeeded on VmResumed"));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_failure_keeps_its_reason_phase_and_timings_up_to_it()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");

        await host.Publish(m.TransferFailed(Destination));
        var row = await host.WaitForState(m.Id, "Failed");

        Assert.Equal(MigrationPhases.Copy, row.Run.FailedPhase);
        Assert.Equal("Copying", row.Run.FailedState);
        Assert.Contains("storage dst-1 failed in copy: disk read error", row.Run.FailureReason);
        var timings = MigrationTimings.Of(row);
        Assert.Equal(TimeSpan.FromSeconds(19), timings.Index);
        Assert.Null(timings.Copy);
        Assert.Null(timings.Downtime);
        Assert.Equal(row.Run.FailedAt - row.RequestedAt, timings.Total);
        host.AssertNoFaults();
    }
}
