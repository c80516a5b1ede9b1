using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport migrate</c>: publishes MigrationRequested for the orchestrators. With <c>--wait</c> it follows the
/// migration's events to the end, shows progress per phase, prints a summary and exits 0 only on success.
/// </summary>
public sealed class MigrateCommand(CliConsole console) : OperatorAsyncCommand<MigrateSettings>(console)
{
    protected override async Task<int> RunAsync(MigrateSettings settings, CancellationToken cancellationToken)
    {
        var request = BuildRequest(settings);
        var bus = OperatorBus.ForOperator(settings.Bus);
        var timeout = settings.TimeoutSeconds is { } seconds
            ? seconds > 0 && seconds <= int.MaxValue / 1000 ? TimeSpan.FromSeconds(seconds) : throw new UserInputException($"--timeout {seconds} must be a positive number of seconds")
            : Timeout.InfiniteTimeSpan;
        if (!settings.Wait)
        {
            await using (var client = await OperatorBusClient.StartAsync(bus, null, cancellationToken))
                await SendRequestAsync(client, settings, request, cancellationToken);
            if (settings.Json)
                Console.WriteJson(new { migrationId = request.MigrationId, state = "Requested" });
            else
                Console.Out.WriteLine(request.MigrationId);
            Console.Ui.MarkupLine($"requested migration of VM {Markup.Escape(request.VmId)}: follow it with [bold]teleport status {request.MigrationId}[/]");
            return ExitCodes.Success;
        }

        var follower = new MigrateFollower(request.MigrationId);
        var progress = new MigrateProgress();
        await using (var client = await OperatorBusClient.StartAsync(bus, follower.Configure, cancellationToken))
        {
            await SendRequestAsync(client, settings, request, cancellationToken);
            Console.Ui.MarkupLine($"migration {request.MigrationId}: VM {Markup.Escape(request.VmId)}, volume {Markup.Escape(request.VolumeId)}, " +
                                  $"{Markup.Escape(request.SourceStorageId)} -> {Markup.Escape(request.DestinationStorageId)}" +
                                  (request.DestinationHostId is { } toHost ? $", whole VM {Markup.Escape(request.HostId)} -> {Markup.Escape(toHost)}" : ""));
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            waiting.CancelAfter(timeout);
            try
            {
                if (Console.IsInteractive)
                    await FollowWithBarsAsync(follower, progress, waiting.Token);
                else
                    await FollowWithLinesAsync(follower, progress, waiting.Token);
            }
            catch (OperationCanceledException) when (!progress.Finished)
            {
                // Nothing stops the migration: the operator only stopped watching it.
            }
        }

        return Report(request.MigrationId, progress, settings.Json, cancellationToken.IsCancellationRequested);
    }

    // Published for every orchestrator (the usual way), or sent to one installation's queue.
    private static Task SendRequestAsync(OperatorBusClient client, MigrateSettings settings, MigrationRequested request, CancellationToken cancellationToken) =>
        settings.OrchestratorQueue is { } queue
            ? client.SendAsync(Operator.CheckId(queue, "--orchestrator-queue"), request, cancellationToken)
            : client.Bus.Publish(request, cancellationToken);

    private static MigrationRequested BuildRequest(MigrateSettings settings)
    {
        string vm = Operator.CheckId(settings.Vm, "--vm");
        string volume = Operator.CheckId(settings.Volume, "--volume");
        string from = Operator.CheckId(settings.From, "--from");
        string to = Operator.CheckId(settings.To, "--to");
        string host = Operator.CheckId(settings.Host, "--host");
        if (from == to)
            throw new UserInputException($"--from and --to are the same storage '{from}'");
        string? toHost = settings.ToHost is null ? null : Operator.CheckId(settings.ToHost, "--to-host");
        if (toHost == host)
            throw new UserInputException($"--to-host is the VM's own host '{host}': a whole-VM move needs another host");
        var id = settings.Id is null ? Guid.NewGuid() : Operator.ParseMigrationId(settings.Id);
        long? bandwidth = null;
        if (settings.Bandwidth is not null)
        {
            var rate = ByteRate.TryParse(settings.Bandwidth, out var parsed)
                ? parsed
                : throw new UserInputException($"--bandwidth '{settings.Bandwidth}' is not a rate (examples: 100mbit, 1gbit, 12.5MB/s, unlimited)");
            bandwidth = rate.IsUnlimited ? null : Math.Max(1, (long)rate.BytesPerSecond);
        }

        long? size = settings.Size is null ? null : ByteSize.Parse(settings.Size, "--size");
        if (size <= 0)
            throw new UserInputException($"--size '{settings.Size}' must be above 0");
        if (settings.Fenced && size is null)
            throw new UserInputException("--fenced needs --size: the destination builds its fence for a volume of that size");
        var options = new MigrationOptions(BandwidthBytesPerSecond: bandwidth, Memory: MemoryOptions(settings, toHost), VolumeBytes: size,
            FencedCutover: settings.Fenced);
        return new MigrationRequested(id, vm, volume, from, to, host, options, DateTimeOffset.UtcNow, toHost);
    }

    // QEMU's memory migration settings: they mean something only when the whole VM moves.
    private static MemoryMigrationOptions? MemoryOptions(MigrateSettings settings, string? toHost)
    {
        if (settings is { Multifd: false, MultifdChannels: null, MemoryDowntimeLimit: null })
            return null;
        if (toHost is null)
            throw new UserInputException("--multifd, --multifd-channels and --memory-downtime-limit tune QEMU's memory migration: they need --to-host");
        if (settings.MultifdChannels is { } channels && (!settings.Multifd || channels is < 1 or > 255))
            throw new UserInputException($"--multifd-channels {channels}: give 1 to 255 channels, with --multifd");
        if (settings.MemoryDowntimeLimit is { } limit && limit is < 1 or > 60_000)
            throw new UserInputException($"--memory-downtime-limit {limit}: give 1 to 60000 milliseconds");
        return new MemoryMigrationOptions(settings.Multifd ? true : null, settings.MultifdChannels, settings.MemoryDowntimeLimit);
    }

    private async Task FollowWithLinesAsync(MigrateFollower follower, MigrateProgress progress, CancellationToken cancellationToken)
    {
        while (!progress.Finished)
        {
            object message = await follower.Events.ReadAsync(cancellationToken);
            if (progress.Apply(message) is var (phase, line))
                Console.Ui.WriteLine($"{phase,-8} {line}");
        }
    }

    // A bar per phase: a phase's bar fills when the next phase starts; copy fills with the blocks sent.
    private async Task FollowWithBarsAsync(MigrateFollower follower, MigrateProgress progress, CancellationToken cancellationToken)
    {
        await Console.Ui.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var bars = MigrateProgress.Phases.ToDictionary(p => p, p => ctx.AddTask(p, autoStart: false, maxValue: 1));
                bars["prepare"].StartTask();
                while (!progress.Finished)
                {
                    object message = await follower.Events.ReadAsync(cancellationToken);
                    if (progress.Apply(message) is not var (phase, line))
                        continue;
                    if (!bars.TryGetValue(phase, out var bar))
                    {
                        Console.Ui.MarkupLine($"{Markup.Escape(phase)}: {Markup.Escape(line)}");
                        continue;
                    }

                    // Phases before this one are over.
                    foreach (string? earlier in MigrateProgress.Phases.TakeWhile(p => p != phase))
                        bars[earlier].Value = bars[earlier].MaxValue;
                    bar.StartTask();
                    bar.Description = $"{phase}: {Markup.Escape(line)}";
                    if (phase == "copy" && progress.BlocksToCopy > 0)
                    {
                        bar.MaxValue = progress.BlocksToCopy;
                        bar.Value = Math.Min(progress.BlocksSent, progress.BlocksToCopy);
                    }
                    else if (phase is "prepare" or "index" or "request")
                    {
                        bar.Value = bar.MaxValue;
                    }
                }

                if (progress.Succeeded is not null)
                {
                    foreach (var bar in bars.Values)
                        bar.Value = bar.MaxValue;
                }
            });
    }

    private int Report(Guid id, MigrateProgress progress, bool json, bool interrupted)
    {
        var outcome = progress.Outcome(id);
        if (json)
            Console.WriteJson(outcome);
        if (progress.Succeeded is not null)
        {
            if (!json)
            {
                var table = new Table().Border(TableBorder.Simple).AddColumn("MIGRATION").AddColumn(id.ToString());
                table.AddRow("state", "Succeeded");
                table.AddRow("volume", Operator.Bytes(outcome.VolumeBytes));
                table.AddRow("on the wire", $"{Operator.Bytes(outcome.BytesOnWire)} ({Operator.Percent(outcome.BytesOnWire, outcome.VolumeBytes)} of the volume)");
                table.AddRow("from the index", outcome.Blocks > 0
                    ? $"{outcome.BlocksFromIndex} of {outcome.Blocks} blocks ({Operator.Percent(outcome.BlocksFromIndex, outcome.Blocks)})"
                    : $"{outcome.BlocksFromIndex} blocks");
                table.AddRow("rounds", outcome.Rounds.ToString(System.Globalization.CultureInfo.InvariantCulture));
                table.AddRow("downtime", Operator.Downtime(outcome.DowntimeMs, outcome.PausedToVerifiedMs, outcome.PausedToSwitchedMs));
                if (outcome.PredictedDowntimeMs is { } predicted)
                    table.AddRow("predicted downtime", Operator.Millis(predicted));
                if (outcome.DestinationHostId is { } toHost)
                {
                    table.AddRow("host", $"the VM runs on {Markup.Escape(toHost)}");
                    table.AddRow("memory", Operator.Bytes(outcome.MemoryBytes));
                    table.AddRow("downtime split", Operator.DowntimeSplit(outcome.QemuDowntimeMs, outcome.StorageDowntimeMs));
                }

                Console.Results.Write(table);
            }

            return ExitCodes.Success;
        }

        if (progress.Failed is { } failed)
        {
            Console.Ui.MarkupLine($"[red]error:[/] migration {id} failed in {Markup.Escape(failed.Phase)}: {Markup.Escape(failed.Reason)}");
            return ExitCodes.Failure;
        }

        Console.Ui.MarkupLine($"[yellow]stopped waiting{(interrupted ? "" : " (--timeout)")}[/]: migration {id} goes on; follow it with teleport status {id}");
        return ExitCodes.Failure;
    }
}
