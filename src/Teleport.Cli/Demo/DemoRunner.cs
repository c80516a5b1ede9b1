using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;
using Teleport.Blocks;
using Teleport.Cli.Commands;
using Teleport.Contracts;
using Teleport.Host.Worker;

namespace Teleport.Cli.Demo;

/// <summary>
/// Runs the demo: generates the images, indexes the base image at the destination, starts the whole system on one
/// bus, lets the VM write, requests the migration like any other system would (MigrationRequested), follows it to
/// MigrationSucceeded or MigrationFailed, keeps the VM writing on the destination for a moment, then stops
/// everything and checks the destination volume.
/// </summary>
public sealed class DemoRunner(DemoOptions options, DemoProgress progress)
{
    /// <summary>The VM fills its window in about this long, so it writes all through a default demo.</summary>
    private static readonly TimeSpan WindowLifetime = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan WriteAfterCutover = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(60);

    public async Task<DemoResult> RunAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        string work = WorkDirectory();
        try
        {
            var topology = DemoTopology.Create(work);
            progress.Step($"generating a {ByteSize.Format(options.VolumeBytes)} volume and its base image in {work}");
            var layout = DemoImages.Generate(topology.DestinationImages, topology.SourceVolumes, DemoTopology.VolumeId, options.VolumeBytes);
            progress.Step("indexing the base image at the destination");
            using (var index = BlockIndex.Open(topology.DestinationIndex, DemoImages.BlockSize))
            {
                index.Update([layout.BasePath], cancellationToken);
                index.Save();
            }

            double rate = RecordsPerSecond(layout);
            ulong runId = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
            if (options is { WholeVm: true, Guest: { } moving })
            {
                await using var whole = new WholeVmGuest(moving, topology, layout.WindowBlocks, rate, runId);
                return await MigrateAsync(topology, layout, whole, o =>
                {
                    o.QmpSocket = whole.HostQmpSocket;
                    o.DefinitionFile = whole.DefinitionFile;
                    return o;
                }, clock, cancellationToken).ConfigureAwait(false);
            }

            if (options.Guest is { } guest)
            {
                await using var qemu = new QemuGuest(guest, topology.VmDisk, DemoTopology.VolumeId, layout.WindowBlocks, rate, runId, work);
                return await MigrateAsync(topology, layout, qemu, o => { o.QmpSocket = qemu.HostQmpSocket; return o; }, clock, cancellationToken)
                    .ConfigureAwait(false);
            }

            await using var vm = new WritingVm(topology.VmDiskEndPoint, DemoTopology.VolumeId, layout.WindowOffset, layout.WindowBlocks, rate, runId);
            return await MigrateAsync(topology, layout, vm, o => o.UseHypervisor(vm), clock, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (options.KeepDirectory is null)
                TryDelete(work);
            else
                progress.Step($"kept the images, volumes, index and saga database in {work}");
        }
    }

    private async Task<DemoResult> MigrateAsync(DemoTopology topology, DemoLayout layout, IDemoVm vm, Func<HostVmOptions, HostVmOptions> control,
        Stopwatch clock, CancellationToken cancellationToken)
    {
        var migrationId = NewId.NextGuid();
        var watch = new MigrationWatch(migrationId, progress);
        using var logger = WorkerLogger();
        using var host = DemoSystem.Build(topology, control, watch, logger, options.WholeVm ? options.Guest : null);
        (vm as WholeVmGuest)?.Attach(host.Services.GetRequiredKeyedService<HostWorkerNode>(DemoTopology.DestinationHostId));
        progress.Step("starting two storage workers, a host worker, the orchestrator and the bus");
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        MigrationOutcome outcome;
        long written, writtenAtOutcome = 0;
        double migrationSeconds = 0;
        try
        {
            if (vm is QemuGuest or WholeVmGuest)
                progress.Step("booting the QEMU test guest (software emulation: a few seconds)");
            await vm.StartAsync(cancellationToken).ConfigureAwait(false);
            // Let the VM's writes land on the source before the migration starts.
            await vm.WaitForRecordsAsync(16, cancellationToken).ConfigureAwait(false);
            var bus = host.Services.GetRequiredService<IBus>();
            var migrationClock = Stopwatch.StartNew();
            await bus.Publish(new MigrationRequested(migrationId, DemoTopology.VmId, DemoTopology.VolumeId, DemoTopology.SourceStorageId,
                DemoTopology.DestinationStorageId, DemoTopology.HostId,
                new MigrationOptions(BandwidthBytesPerSecond: options.Bandwidth.IsUnlimited ? null : (long)options.Bandwidth.BytesPerSecond),
                DateTimeOffset.UtcNow, options.WholeVm ? DemoTopology.DestinationHostId : null), cancellationToken).ConfigureAwait(false);
            progress.Requested(migrationId);
            outcome = await WaitForOutcomeAsync(bus, watch, cancellationToken).ConfigureAwait(false);
            migrationSeconds = migrationClock.Elapsed.TotalSeconds;
            writtenAtOutcome = vm.RecordsWritten;
            if (outcome.IsSuccess)
            {
                // The VM goes on writing, now on the destination.
                using var enough = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                enough.CancelAfter(TimeSpan.FromSeconds(10));
                long after = Math.Max(10, (long)(WriteAfterCutover.TotalSeconds * RecordsPerSecond(layout)));
                try
                {
                    await vm.WaitForRecordsAsync(vm.RecordsWritten + after, enough.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }
        }
        finally
        {
            written = await vm.StopAsync().ConfigureAwait(false);
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await host.StopAsync(stopping.Token).ConfigureAwait(false);
        }

        progress.Step(outcome.IsSuccess ? "verifying the destination volume" : "checking the VM's records on the source volume");
        // After a failure the VM runs on the source again: its records must all be there.
        string checkedVolume = outcome.IsSuccess ? topology.DestinationVolumePath : layout.VolumePath;
        // Not cancellable: after Ctrl-C the user still gets the verdict, and reading the volume is quick.
        var check = File.Exists(checkedVolume)
            ? await DemoVerification.CheckAsync(layout, checkedVolume, written, vm.ExactCount, vm.RunId, CancellationToken.None).ConfigureAwait(false)
            : null;
        return Result(outcome, watch, layout, vm, check, written, outcome.IsSuccess ? written - writtenAtOutcome : 0, migrationSeconds,
            clock.Elapsed.TotalSeconds);
    }

    private static double RecordsPerSecond(DemoLayout layout) => Math.Clamp(layout.WindowBlocks / WindowLifetime.TotalSeconds, 50, 400);

    // Ctrl-C cancels the migration through the saga (it rolls back to the source) and waits for it to say so.
    private static async Task<MigrationOutcome> WaitForOutcomeAsync(IBus bus, MigrationWatch watch, CancellationToken cancellationToken)
    {
        try
        {
            return await watch.Outcome.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            var orchestrator = await bus.GetSendEndpoint(new Uri($"queue:{WorkerQueues.Orchestrator}")).ConfigureAwait(false);
            await orchestrator.Send(new CancelMigration(watch.MigrationId, "teleport demo interrupted"), CancellationToken.None).ConfigureAwait(false);
            return await watch.Outcome.WaitAsync(CancelGrace, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static double? Rounded(double? milliseconds) => milliseconds is { } ms ? Math.Round(ms, 1) : null;

    private DemoResult Result(MigrationOutcome outcome, MigrationWatch watch, DemoLayout layout, IDemoVm vm, DemoVerification? check,
        long written, long afterCutover, double migrationSeconds, double seconds)
    {
        var succeeded = outcome.Succeeded;
        var completed = watch.Completed;
        long volumeBytes = succeeded?.VolumeBytes ?? completed?.VolumeBytes ?? layout.VolumeBytes;
        long wire = succeeded?.BytesOnWire ?? completed?.BytesOnWire ?? 0;
        bool destinationVerified = completed?.Verified == true;
        bool? continued = (vm as WholeVmGuest)?.Log.Continued;
        bool verified = succeeded is not null && destinationVerified && check is { Passed: true, RestMatchesSource: true } && vm.Failure is null
            && continued != false;
        string? failure = outcome.Failed?.Reason
            ?? (vm.Failure is { } problem ? $"the VM: {problem}" : null)
            ?? (check is null ? "the destination volume is missing"
                : !check.RecordsIntact ? $"the VM's records on the destination: {check.Workload}"
                : check.RestMatchesSource == false ? "blocks outside the VM's window differ from the source"
                : continued == false ? "the guest's writer did not carry on in the destination QEMU (rebooted, or a gap in its sequence)" : null);
        return new DemoResult(
            succeeded is not null ? DemoResult.Succeeded : DemoResult.Failed,
            watch.MigrationId,
            volumeBytes,
            wire,
            volumeBytes > 0 ? Math.Round((double)wire / volumeBytes, 4) : 0,
            watch.Index?.Blocks ?? layout.Blocks,
            watch.Index?.ZeroBlocks ?? 0,
            succeeded?.BlocksFromIndex ?? completed?.BlocksFromIndex ?? watch.Requested?.BlocksFromIndex ?? 0,
            completed?.BlocksSent ?? 0,
            succeeded?.Rounds ?? completed?.Rounds ?? 0,
            succeeded is null ? null : Math.Round(succeeded.DowntimeMilliseconds, 1),
            Operator.MillisBetween(watch.Paused?.PausedAt ?? watch.PreSwitchover?.PausedAt, completed?.CompletedAt),
            Operator.MillisBetween(watch.Paused?.PausedAt, watch.Switched?.SwitchedAt),
            verified,
            destinationVerified,
            check?.RestMatchesSource,
            check?.RecordsIntact == true,
            vm.Kind,
            options.WholeVm,
            succeeded?.DestinationHostId,
            options.WholeVm ? succeeded?.MemoryBytes : null,
            options.WholeVm ? Rounded(succeeded?.QemuDowntimeMilliseconds) : null,
            options.WholeVm ? Rounded(succeeded?.StorageDowntimeMilliseconds) : null,
            continued,
            written,
            check?.RecordsVerified ?? 0,
            afterCutover,
            Math.Round(vm.LongestGap.TotalMilliseconds, 1),
            Math.Round(migrationSeconds, 2),
            Math.Round(seconds, 2),
            outcome.Failed?.Phase,
            failure);
    }

    // The workers log at Information for operators; the demo shows its own progress, so only their warnings show.
    // The path switcher's "refused" warnings are the host worker retrying until the destination exports the volume:
    // a real failure reaches the demo as HostOperationFailed. An incoming QEMU probes its disk before it is attached,
    // and host-2's NBD servers refuse that by design (a warning each).
    private Serilog.Core.Logger WorkerLogger() =>
        options.Verbose
            ? new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Logger(Log.Logger).CreateLogger()
            : new LoggerConfiguration()
                .MinimumLevel.Warning()
                .MinimumLevel.Override("Teleport.Host.Switching.PathSwitcher", LogEventLevel.Error)
                .MinimumLevel.Override("Teleport.Nbd.Server.NbdServer", options.WholeVm ? LogEventLevel.Error : LogEventLevel.Warning)
                .WriteTo.Logger(Log.Logger)
                .CreateLogger();

    private string WorkDirectory()
    {
        if (options.KeepDirectory is { } keep)
        {
            string full = Path.GetFullPath(keep);
            if (File.Exists(full) || Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
                throw new UserInputException($"--keep '{keep}' must be an empty or new directory");
            Directory.CreateDirectory(full);
            return full;
        }

        string name = $"teleport-demo-{Guid.NewGuid():N}"[..22];
        string work = CreatePrivate(Path.Combine(Path.GetTempPath(), name));
        if (!HasRoomInMemory())
            return work;
        // The files are throwaway, and deleting a gigabyte from a disk mounted with online discard takes seconds:
        // keep them in memory. Through a link, because the data channel takes any path under /dev/ for a device.
        Directory.Delete(work);
        string memory = CreatePrivate(Path.Combine(SharedMemory, name));
        try
        {
            Directory.CreateSymbolicLink(work, memory);
        }
        catch (IOException)
        {
            Directory.Delete(memory);
            return CreatePrivate(work);
        }

        return work;
    }

    private const string SharedMemory = "/dev/shm";

    private bool HasRoomInMemory()
    {
        if (Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } || !Directory.Exists(SharedMemory))
            return false; // a TMPDIR the user set is where they want the files
        try
        {
            return new DriveInfo(SharedMemory).AvailableFreeSpace > 4 * options.VolumeBytes + (256L << 20);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    private static string CreatePrivate(string path) =>
        OperatingSystem.IsWindows()
            ? Directory.CreateDirectory(path).FullName
            : Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;

    private static void TryDelete(string directory)
    {
        try
        {
            if (new DirectoryInfo(directory).LinkTarget is { } target)
            {
                Directory.Delete(directory); // the link
                directory = target;
            }


            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning("Could not delete the demo's work directory {Directory}: {Reason}", directory, e.Message);
        }
    }
}
