using System.Globalization;
using Spectre.Console.Rendering;
using Teleport.Orchestrator;

namespace Teleport.Cli.Commands;

/// <summary>The tables of <c>teleport status</c> and <c>teleport watch</c>.</summary>
public static class OperatorTables
{
    /// <summary>One line per migration; <paramref name="compact"/> keeps to the columns a narrow terminal can show.</summary>
    public static Table Overview(IEnumerable<MigrationState> rows, DateTimeOffset now, bool compact = false)
    {
        var table = new Table().Border(TableBorder.Simple);
        string[] columns = compact
            ? ["ID", "VM", "STATE", "PHASE", "ON WIRE", "ROUNDS", "PROGRESS"]
            : ["ID", "VM", "VOLUME", "FROM -> TO", "STATE", "PHASE", "TRY", "IN PHASE", "ON WIRE", "FROM INDEX", "ROUNDS", "DOWNTIME", "PROGRESS"];
        foreach (string column in columns)
        {
            // Ids and states are what operators scan for: never broken over lines.
            table.AddColumn(new TableColumn(column) { NoWrap = column is "ID" or "STATE" or "PHASE" or "TRY" });
        }

        foreach (var row in rows)
        {
            var view = OperatorMigrationView.Of(row);
            string onWire = row.Run.VolumeBytes > 0 ? $"{Operator.Bytes(row.Run.BytesOnWire)} ({Operator.Percent(row.Run.BytesOnWire, row.Run.VolumeBytes)})" : Operator.Bytes(row.Run.BytesOnWire);
            var rounds = Cell(row.Run.Rounds.ToString(CultureInfo.InvariantCulture));
            if (compact)
            {
                table.AddRow(Cell(Operator.Short(row.CorrelationId)), Cell(row.VmId), new Markup(StateMarkup(row.CurrentState)), Cell(row.Phase),
                    Cell(onWire), rounds, Cell(Shorten(view.Progress, 60)));
                continue;
            }

            string inPhase = view.Final ? "-" : Operator.Duration(row.PhaseEnteredAt is { } began ? now - began : null);
            table.AddRow(
                Cell(Operator.Short(row.CorrelationId)), Cell(row.VmId), Cell(row.VolumeId), Cell($"{row.SourceStorageId} -> {row.DestinationStorageId}"),
                new Markup(StateMarkup(row.CurrentState)), Cell(row.Phase), Cell(row.Attempt.ToString(CultureInfo.InvariantCulture)),
                Cell(inPhase), Cell(onWire),
                Cell(row.Run.Blocks > 0 ? $"{row.Run.BlocksFromIndex} ({Operator.Percent(row.Run.BlocksFromIndex, row.Run.Blocks)})" : row.Run.BlocksFromIndex.ToString(CultureInfo.InvariantCulture)),
                rounds, Cell(Operator.Millis(row.Run.DowntimeMilliseconds)), Cell(Shorten(view.Progress, 100)));
        }

        return table;
    }

    /// <summary>Everything about one migration: ids, state, figures, timings per phase, the failure.</summary>
    public static Table Detail(MigrationState row)
    {
        var view = OperatorMigrationView.Of(row);
        var t = MigrationTimings.Of(row);
        var table = new Table().Border(TableBorder.Simple).AddColumn("FIELD").AddColumn("VALUE");
        void Add(string field, string value) => table.AddRow(Cell(field), Cell(value));
        Add("migration", row.CorrelationId.ToString());
        Add("vm", row.DestinationHostId is { } toHost ? $"{row.VmId}: whole VM, host {row.HostId} -> {toHost}" : $"{row.VmId} on host {row.HostId}");
        Add("volume", $"{row.VolumeId}: {row.SourceStorageId} -> {row.DestinationStorageId}");
        table.AddRow(Cell("state"), new Markup($"{StateMarkup(row.CurrentState)} (phase {Markup.Escape(row.Phase)}, attempt {row.Attempt})"));
        Add("progress", view.Progress);
        Add("requested", row.RequestedAt?.ToString("O") ?? "-");
        if (row.DeadlineUtc is { } deadline)
            Add("deadline", deadline.ToString("O"));
        Add("volume size", $"{Operator.Bytes(row.Run.VolumeBytes)} ({row.Run.Blocks} blocks, {row.Run.ZeroBlocks} zero)");
        Add("on the wire", $"{Operator.Bytes(row.Run.BytesOnWire)} ({Operator.Percent(row.Run.BytesOnWire, row.Run.VolumeBytes)} of the volume)");
        Add("from the index", $"{row.Run.BlocksFromIndex} blocks ({Operator.Percent(row.Run.BlocksFromIndex, row.Run.Blocks)})");
        Add("from the source", $"{row.Run.BlocksRequestedFromSource} requested, {row.Run.BlocksSent} sent");
        Add("rounds", $"{row.Run.Rounds}{(row.Run.RoundCapReached ? " (round cap reached)" : "")}, {row.Run.DirtyBlocks} dirty blocks left");
        Add("downtime", Operator.Downtime(row.Run.DowntimeMilliseconds, view.Timings.PausedToVerifiedMs, view.Timings.PausedToSwitchedMs));
        if (row.Run.PredictedDowntimeMilliseconds is { } predicted)
            Add("predicted downtime", $"{Operator.Millis(predicted)} (max {row.OptionMaxDowntimeMilliseconds ?? DowntimeController.DefaultMaxDowntimeMilliseconds} ms" +
                $"{(row.OptionStrictMaxDowntime ? ", strict" : "")}; round trip {Operator.Millis(row.Run.RoundTripMilliseconds)}, waited {row.Run.DowntimeWaitRounds} round(s))" +
                (row.Run.PostCopy ? "; post-copy: the dirty set streamed behind the resumed VM" : ""));
        if (view.WholeVm)
        {
            Add("memory", $"{Operator.Bytes(Math.Max(row.Run.MemoryBytes, row.Run.MemoryTransferredBytes))} sent, {Operator.Bytes(row.Run.MemoryRemainingBytes)} left " +
                          $"({row.Run.MemoryStatus ?? "not started"}), {row.Run.MemoryDirtyPagesRate} dirty pages/s");
            Add("downtime split", Operator.DowntimeSplit(row.Run.QemuDowntimeMilliseconds, row.Run.StorageDowntimeMilliseconds));
            if (row.Run.PostCopy)
                Add("memory post-copy", $"pre-copy did not converge: the VM ran on the destination while {Operator.Bytes(row.Run.MemoryPostCopyBytes)} " +
                                        $"streamed behind it for {(row.Run.MemoryPostCopyMilliseconds is { } tail ? Operator.Millis(tail) : "(not over)")}; " +
                                        "the source could not resume from its start");
        }

        Add("verified", row.Run.Verified ? "yes" : "no");
        Add("timings", $"prepare {Operator.Duration(t.Prepare)}, index {Operator.Duration(t.Index)}, request {Operator.Duration(t.Request)}, " +
                       $"copy {Operator.Duration(t.Copy)}, cut-over {Operator.Duration(t.CutOver)}, total {Operator.Duration(t.Total)}");
        if (row.Run.FailureReason is not null)
        {
            Add("failed", $"in phase {row.Run.FailedPhase} (state {row.Run.FailedState}): {row.Run.FailureReason}");
            if (row.Run.RollbackIncomplete)
                Add("rollback", "INCOMPLETE: look at the VM and the destination before retrying");
            Add("aborted", $"source {row.Run.SourceAbortedAt?.ToString("O") ?? "not confirmed"}, destination {row.Run.DestinationAbortedAt?.ToString("O") ?? "not confirmed"}");
        }

        return table;
    }

    private static IRenderable Cell(string text) => new Text(text);

    // The overview keeps a line per migration; `teleport status ID` shows the whole text.
    private static string Shorten(string text, int length) => text.Length <= length ? text : text[..(length - 3)] + "...";

    private static string StateMarkup(string state) => state switch
    {
        "Succeeded" => "[green]Succeeded[/]",
        "Failed" => "[red]Failed[/]",
        "RollingBackSwitch" or "RollingBackResume" => $"[yellow]{state}[/]",
        _ => Markup.Escape(state),
    };
}
