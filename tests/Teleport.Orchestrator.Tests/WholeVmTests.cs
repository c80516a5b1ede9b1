using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;
using static Teleport.Orchestrator.Tests.WholeVmScript;

namespace Teleport.Orchestrator.Tests;

/// <summary>Whole-VM moves (the request names a destination host) on SQLite and PostgreSQL: the way forward.</summary>
public sealed class WholeVmTests
{
    public static TheoryData<string> Providers() => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_whole_vm_move_describes_starts_incoming_migrates_memory_syncs_continues_and_resumes_on_the_destination(string provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var host = await StartAsync(database: database.ConnectionString);
        var m = new WholeVmScript(host);

        await m.DriveTo("Copying");
        Assert.Equal(new DescribeVm(m.Id, Vm, Host), await host.Sent<DescribeVm>(m.Id, HostQueue(Host)));
        var row = await host.Row(m.Id);
        Assert.Equal((DestinationHost, true, Definition), (row!.DestinationHostId, row.OptionMemoryMultifd, row.Run.Definition));

        // The incoming VM's disk is the destination storage's export; its definition is the source host's.
        var incoming = await host.Sent<PrepareIncomingVm>(m.Id, HostQueue(DestinationHost));
        Assert.Equal(new PrepareIncomingVm(m.Id, Vm, DestinationHost, Host, Definition, Destination, DestinationNbd, DestinationExport, Memory: new MemoryMigrationOptions(true, 4, 300)), incoming);
        // The memory migration already runs beside the disk's copy; the disk's threshold then only changes the state.
        Assert.Equal(("Copying", 1), ((await host.Row(m.Id))!.CurrentState, host.SentCount<MigrateVmMemory>(m.Id)));

        await m.DriveOn("Copying", "MigratingMemory");
        Assert.Equal(1, host.SentCount<MigrateVmMemory>(m.Id));
        var memory = await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host));
        // Not fenced: migrate-continue waits for the disk's verified final sync (ContinueAtSwitchover false).
        Assert.Equal(
            new MigrateVmMemory(m.Id, Vm, Host, DestinationHost, "10.0.0.12:49152", null, new MemoryMigrationOptions(true, 4, 300), ContinueAtSwitchover: false), memory);
        row = await host.Row(m.Id);
        Assert.Equal((MigrationPhases.Memory, "active"), (row!.Phase, row.Run.MemoryStatus));
        Assert.Equal((100_000_000L, (256L << 20) - 100_000_000, 1200L, 40L),
            (row.Run.MemoryTransferredBytes, row.Run.MemoryRemainingBytes, row.Run.MemoryDirtyPagesRate, row.Run.MemoryExpectedDowntimeMilliseconds));

        await m.DriveOn("MigratingMemory", "Succeeded");
        var succeeded = await host.Published<MigrationSucceeded>(m.Id);
        Assert.Equal(DestinationHost, succeeded.DestinationHostId);
        Assert.Equal(270_500_000, succeeded.MemoryBytes);
        Assert.Equal(400, succeeded.DowntimeMilliseconds, precision: 3);
        Assert.Equal(85.5, succeeded.QemuDowntimeMilliseconds, precision: 3);
        Assert.Equal(200, succeeded.StorageDowntimeMilliseconds, precision: 3);
        Assert.Equal(new StopSourceVm(m.Id, Vm, Host), await host.Sent<StopSourceVm>(m.Id, HostQueue(Host)));
        Assert.Equal(new ReleaseSourceVolume(m.Id, Volume, Source, 1), await host.Sent<ReleaseSourceVolume>(m.Id, StorageQueue(Source)));

        // A storage-only move's cut-over commands are never sent: the source VM's disk path stays on the source storage.
        Assert.Equal((0, 0, 0), (host.SentCount<PauseVm>(m.Id), host.SentCount<SwitchTarget>(m.Id), host.SentCount<DiscardIncomingVm>(m.Id)));
        Assert.Equal(1, host.SentCount<ResumeVm>(m.Id));

        await host.Publish(new SourceVmStopped(m.Id, Vm, Host, T0.AddSeconds(51), 1));
        row = await host.WaitFor(m.Id, r => r.Run.SourceStoppedAt is not null, "source stopped");
        Assert.Equal(("Succeeded", MigrationPhases.Succeeded, 270_500_000L), (row.CurrentState, row.Phase, row.Run.MemoryBytes));
        Assert.Equal(400, row.Run.DowntimeMilliseconds!.Value, precision: 3);
        Assert.Equal(85.5, row.Run.QemuDowntimeMilliseconds!.Value, precision: 3);
        Assert.Equal(200, row.Run.StorageDowntimeMilliseconds!.Value, precision: 3);
        Assert.Equal(Definition, row.Run.Definition);
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_incoming_vm_starts_as_soon_as_the_vm_is_described_and_its_memory_once_the_disk_transfer_starts()
    {
        await using var host = await StartAsync();
        var (m, incoming) = await DescribedBeforeThePrepare(host);
        Assert.Equal(new PrepareIncomingVm(m.Id, Vm, DestinationHost, Host, Definition, Destination, "", Volume, Memory: new MemoryMigrationOptions(true, 4, 300)), incoming);
        await host.PublishAndSettle(m.IncomingPrepared());
        var row = await host.Row(m.Id);
        Assert.Equal(("Preparing", true), (row!.CurrentState, row.Run.IncomingReady));
        Assert.Equal((0, 0), (host.SentCount<StartTransfer>(m.Id), host.SentCount<MigrateVmMemory>(m.Id)));

        // The disk's transfer and the memory's pre-copy start together once the destination storage is ready.
        await host.Publish(m.Disk.Prepared() with { ExportName = Volume });
        await host.Sent<StartTransfer>(m.Id, StorageQueue(Source));
        await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "Indexing");
        Assert.Equal(1, host.SentCount<PrepareIncomingVm>(m.Id));
        host.AssertNoFaults();
    }

    // Described before the destination storage is prepared: the incoming VM goes at once, for the volume's export.
    private static async Task<(WholeVmScript Move, PrepareIncomingVm Incoming)> DescribedBeforeThePrepare(SagaTestHost host)
    {
        var m = new WholeVmScript(host);
        await m.DriveTo("Preparing");
        await host.Publish(m.Described());
        return (m, await host.Sent<PrepareIncomingVm>(m.Id, HostQueue(DestinationHost)));
    }

    [Fact]
    public async Task A_destination_exporting_the_volume_under_another_name_than_the_incoming_vm_expects_rolls_back()
    {
        await using var host = await StartAsync();
        var (m, _) = await DescribedBeforeThePrepare(host);

        await host.Publish(m.Disk.Prepared());
        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Contains($"exports the volume as '{DestinationExport}', but the incoming VM was prepared for export '{Volume}'", failed.Reason);
        Assert.Equal(new DiscardIncomingVm(m.Id, Vm, DestinationHost), await host.Sent<DiscardIncomingVm>(m.Id, HostQueue(DestinationHost)));
        Assert.Equal((0, 0), (host.SentCount<StartTransfer>(m.Id), host.SentCount<MigrateVmMemory>(m.Id)));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_memory_waits_for_the_incoming_vm_when_the_disk_reaches_its_threshold_first()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await m.DriveTo("Indexing");
        await host.Publish(m.Disk.IndexStreamed());
        await host.Publish(m.Disk.BlocksRequested());
        await host.WaitForState(m.Id, "Copying");

        await host.PublishAndSettle(m.Disk.Threshold());
        Assert.Equal(("Copying", 0), ((await host.Row(m.Id))!.CurrentState, host.SentCount<MigrateVmMemory>(m.Id)));

        await host.Publish(m.IncomingPrepared());
        await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host));
        await host.WaitForState(m.Id, "MigratingMemory");
        Assert.Equal(0, host.SentCount<PauseVm>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task The_memory_starts_beside_the_disks_index_and_a_pre_switchover_before_the_threshold_syncs_the_rest()
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await m.DriveTo("Indexing");

        await host.Publish(m.IncomingPrepared());
        await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host));
        await host.Publish(m.Progress(50_000_000));
        var row = await host.WaitFor(m.Id, r => r.Run.MemoryTransferredBytes == 50_000_000, "memory progress beside the index");
        Assert.Equal(("Indexing", MigrationPhases.Index), (row.CurrentState, row.Phase));
        await host.Publish(m.Disk.IndexStreamed());
        await host.WaitForState(m.Id, "Requesting");

        // QEMU stopped the vCPUs before the disk's threshold: the final sync carries the disk's rest now.
        await host.Publish(m.PreSwitchover());
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source));
        row = await host.WaitForState(m.Id, "SyncingDisk");
        Assert.Equal(m.PreSwitchover().PausedAt, row.Run.PausedAt);
        await host.PublishAndSettle(m.Disk.BlocksRequested());
        Assert.Equal("SyncingDisk", (await host.Row(m.Id))!.CurrentState);

        await m.DriveOn("SyncingDisk", "Succeeded");
        Assert.Equal((1, 0), (host.SentCount<MigrateVmMemory>(m.Id), host.SentCount<PauseVm>(m.Id)));
        host.AssertNoFaults();
    }

    [Theory]
    [InlineData("wrong host")]
    [InlineData("no disk")]
    public async Task An_unusable_vm_definition_rolls_back_before_the_transfer_starts(string problem)
    {
        await using var host = await StartAsync();
        var m = new WholeVmScript(host);
        await m.DriveTo("Preparing");
        await host.Publish(m.Disk.Prepared());

        var described = problem == "wrong host"
            ? m.Described() with { HostId = "host-9" }
            : m.Described() with { Definition = Definition with { DiskBytes = 0 } };
        await host.Publish(described);

        var failed = await host.Published<MigrationFailed>(m.Id);
        Assert.Contains(problem == "wrong host" ? "not the VM's host 'host-1'" : "disk size 0 is not positive", failed.Reason);
        // Both storage sides are released, the source first.
        await host.Sent<AbortTransfer>(m.Id, StorageQueue(Destination), index: 1);
        Assert.Equal((0, 0, 0), (host.SentCount<StartTransfer>(m.Id), host.SentCount<PrepareIncomingVm>(m.Id), host.SentCount<ResumeVm>(m.Id)));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task A_request_naming_its_own_host_as_destination_fails_before_any_command()
    {
        await using var host = await StartAsync();
        var id = Guid.NewGuid();
        await host.Publish(WholeVmRequest(id) with { DestinationHostId = Host });

        var failed = await host.Published<MigrationFailed>(id);
        Assert.Contains("needs another destination host", failed.Reason);
        Assert.Equal((0, 0), (host.SentCount<PrepareDestination>(id), host.SentCount<DescribeVm>(id)));
    }

    [Fact]
    public async Task Nudges_resend_what_each_whole_vm_state_still_waits_on()
    {
        var settings = DefaultSettings();
        await using var host = await StartAsync(settings);
        var m = new WholeVmScript(host);
        await m.DriveTo("Preparing");
        await host.Publish(m.Disk.Prepared());
        await host.WaitFor(m.Id, r => r.Run.DestinationReady, "destination prepared");

        // Preparing: only the missing VmDescribed is asked for again.
        await Nudge(host, m.Id, settings.PrepareNudgeInterval);
        await host.Sent<DescribeVm>(m.Id, HostQueue(Host), index: 1);
        Assert.Equal(1, host.SentCount<PrepareDestination>(m.Id));

        await host.Publish(m.Described());
        await host.WaitForState(m.Id, "Indexing");
        await Nudge(host, m.Id, settings.TransferNudgeInterval);
        await host.Sent<PrepareIncomingVm>(m.Id, HostQueue(DestinationHost), index: 1);

        await host.Publish(m.Disk.IndexStreamed());
        await host.Publish(m.Disk.BlocksRequested());
        await host.Publish(m.IncomingPrepared());
        await host.Publish(m.Disk.Threshold());
        await host.WaitForState(m.Id, "MigratingMemory");
        await Nudge(host, m.Id, settings.TransferNudgeInterval);
        await host.Sent<MigrateVmMemory>(m.Id, HostQueue(Host), index: 1);

        await host.Publish(m.PreSwitchover());
        await host.WaitForState(m.Id, "SyncingDisk");
        await Nudge(host, m.Id, settings.CutOverNudgeInterval);
        await host.Sent<FinalSync>(m.Id, StorageQueue(Source), index: 1);

        // Both hosts are asked again until each answered: the source's memory, then only the destination's resume.
        await host.Publish(m.Disk.Completed());
        await host.WaitForState(m.Id, "StartingOnDestination");
        await Nudge(host, m.Id, settings.CutOverNudgeInterval);
        await host.Sent<ContinueVmMigration>(m.Id, HostQueue(Host), index: 1);
        await host.Sent<ResumeVm>(m.Id, HostQueue(DestinationHost), index: 1);

        await host.Publish(m.MemoryMigrated());
        await host.WaitFor(m.Id, r => r.Run.MemoryMigratedAt is not null, "memory migrated");
        await Nudge(host, m.Id, settings.CutOverNudgeInterval);
        await host.Sent<ResumeVm>(m.Id, HostQueue(DestinationHost), index: 2);
        Assert.Equal(2, host.SentCount<ContinueVmMigration>(m.Id));
        host.AssertNoFaults();
    }

    // Moves the clock to the row's nudge time and sweeps: the saga re-sends what it waits on.
    private static async Task Nudge(SagaTestHost host, Guid id, TimeSpan interval)
    {
        int before = (await host.Row(id))!.Run.Nudges;
        host.Clock.Advance(interval);
        Assert.Equal(1, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        await host.WaitFor(id, r => r.Run.Nudges == before + 1, "nudge handled");
    }
}
