using System.Globalization;
using Teleport.Contracts;

namespace Teleport.Cli.Demo;

/// <summary>
/// Shows the demo's migration on stderr: a live bar per phase when a person watches, one plain line per event
/// otherwise. Fed by <see cref="MigrationWatch"/> from the bus's threads; it only records and never blocks.
/// </summary>
public sealed class DemoProgress(CliConsole console)
{
    private readonly Lock _gate = new();
    private ProgressTask? _prepare, _index, _request, _copy, _cutOver;
    private long _sent;

    /// <summary>Runs <paramref name="run"/> with the bars drawn (interactive) or as is.</summary>
    public async Task<T> ShowAsync<T>(Func<Task<T>> run)
    {
        if (!console.IsInteractive)
            return await run().ConfigureAwait(false);
        return await console.Ui.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                lock (_gate)
                {
                    _prepare = ctx.AddTask("prepare destination", autoStart: false, maxValue: 1);
                    _index = ctx.AddTask("index phase", autoStart: false, maxValue: 1);
                    _request = ctx.AddTask("request phase", autoStart: false, maxValue: 1);
                    _copy = ctx.AddTask("copy rounds", autoStart: false, maxValue: 1);
                    _cutOver = ctx.AddTask("cut-over", autoStart: false, maxValue: 4);
                }

                return await run().ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    /// <summary>A line of its own (both modes): what the demo itself is doing.</summary>
    public void Step(string text)
    {
        if (!console.IsInteractive)
            Line(text);
        else
            console.Ui.MarkupLine($"[grey]{Markup.Escape(text)}[/]");
    }

    public void Requested(Guid migrationId)
    {
        Line($"migration {migrationId} requested");
        lock (_gate)
            Start(_prepare);
    }

    public void Prepared(DestinationPrepared e)
    {
        Line($"prepare: destination {e.DestinationStorageId} listens on {e.DataEndpoint}");
        lock (_gate)
        {
            Finish(_prepare);
            Start(_index);
            Start(_request);
        }
    }

    public void IndexStreamed(IndexStreamed e)
    {
        Line($"index: {N(e.Blocks)} block fingerprints streamed ({N(e.ZeroBlocks)} zero) in {ByteSize.Format(e.IndexBytes)}");
        lock (_gate)
            Finish(_index, $"index phase ({N(e.Blocks)} blocks)");
    }

    public void BlocksRequested(BlocksRequested e)
    {
        Line($"request: {N(e.BlocksFromIndex)} blocks rebuilt from the destination's index, {N(e.BlocksRequestedFromSource)} requested from the source");
        lock (_gate)
        {
            Finish(_request, $"request phase ({N(e.BlocksFromIndex)} from the index)");
            if (_copy is { IsStarted: false })
            {
                _copy.MaxValue = Math.Max(1, e.BlocksRequestedFromSource);
                Start(_copy);
            }
        }
    }

    public void RoundCompleted(CopyRoundCompleted e)
    {
        Line($"copy round {e.Round}: {N(e.BlocksSent)} blocks, {ByteSize.Format(e.BytesOnWire)} on the wire ({ByteSize.Format((long)e.BytesPerSecond)}/s), {N(e.DirtyBlocksRemaining)} dirty");
        lock (_gate)
        {
            _sent += e.BlocksSent;
            if (_copy is { StopTime: null })
            {
                Start(_copy);
                _copy.MaxValue = Math.Max(_copy.MaxValue, _sent + e.DirtyBlocksRemaining);
                _copy.Value = _sent;
                _copy.Description = $"copy rounds ({e.Round}, {N(e.DirtyBlocksRemaining)} dirty)";
            }
        }
    }

    public void Converged(DirtyBelowThreshold e)
    {
        Line($"copy: {N(e.DirtyBlocks)} dirty blocks after {e.Rounds} rounds{(e.RoundCapReached ? " (round cap)" : "")}: pausing the VM");
        lock (_gate)
        {
            Finish(_copy);
            Start(_cutOver);
        }
    }

    // A whole-VM move's memory: QEMU's own pre-copy, then its stop at pre-switchover while the disk's last sync runs.
    public void MemoryProgress(MemoryMigrationProgress e) =>
        Line($"memory: {ByteSize.Format(e.TransferredBytes)} sent, {ByteSize.Format(e.RemainingBytes)} of {ByteSize.Format(e.TotalBytes)} remaining ({e.Status})");

    public void PreSwitchover(MemoryPreSwitchover e)
    {
        Line($"cut-over: {e.VmId}'s vCPUs stopped on {e.HostId} (QEMU pre-switchover)");
        Advance("cut-over: paused");
    }

    public void MemoryMigrated(VmMemoryMigrated e) =>
        Line(string.Create(CultureInfo.InvariantCulture, $"cut-over: memory moved ({ByteSize.Format(e.MemoryBytes)}), QEMU's stop-and-copy {e.QemuDowntimeMilliseconds:0} ms"));

    public void Paused(VmPaused e)
    {
        Line($"cut-over: VM {e.VmId} paused");
        Advance("cut-over: paused");
    }

    public void Switched(TargetSwitched e)
    {
        Line($"cut-over: disk path switched to {e.StorageId}");
        Advance("cut-over: switched");
    }

    public void Completed(MigrationCompleted e)
    {
        Line($"cut-over: final round done, destination {(e.Verified ? "verified equal to the source" : "NOT verified")}");
        Advance("cut-over: verified");
    }

    public void Resumed(VmResumed e)
    {
        Line($"cut-over: VM {e.VmId} resumed");
        Advance("cut-over: resumed");
    }

    public void Succeeded(MigrationSucceeded e)
    {
        Line(string.Create(CultureInfo.InvariantCulture, $"migration succeeded: downtime {e.DowntimeMilliseconds:0} ms"));
        lock (_gate)
        {
            foreach (var bar in new[] { _prepare, _index, _request, _copy, _cutOver })
                Finish(bar);
        }
    }

    public void Failed(MigrationFailed e) => Line($"migration FAILED in {e.Phase}: {e.Reason}");

    public void Problem(string problem) => Line(problem);

    private void Advance(string description)
    {
        lock (_gate)
        {
            if (_cutOver is not { StopTime: null })
                return;
            Start(_cutOver);
            _cutOver.Increment(1);
            _cutOver.Description = description;
        }
    }

    private static void Start(ProgressTask? bar)
    {
        if (bar is { IsStarted: false, StopTime: null })
            bar.StartTask();
    }

    // Stopped, so its clock stops too; events of a phase may come late or twice, so this is idempotent.
    private static void Finish(ProgressTask? bar, string? description = null)
    {
        if (bar is not { StopTime: null })
            return;
        Start(bar);
        if (description is not null)
            bar.Description = description;
        bar.Value = bar.MaxValue;
        bar.StopTask();
    }

    private void Line(string text)
    {
        if (!console.IsInteractive)
            console.Ui.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.Now:HH:mm:ss.fff} {text}"));
    }

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
