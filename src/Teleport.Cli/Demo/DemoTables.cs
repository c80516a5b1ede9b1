using System.Globalization;

namespace Teleport.Cli.Demo;

/// <summary>Human rendering of the demo's result.</summary>
internal static class DemoTables
{
    public static Table Summary(DemoResult r)
    {
        var table = new Table().Border(TableBorder.Simple).HideHeaders().AddColumn("").AddColumn(new TableColumn("").RightAligned());
        void Row(string name, string value) => table.AddRow(name, Markup.Escape(value));
        string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

        Row("migration", $"{r.State} ({r.MigrationId})");
        if (r.Failure is not null)
            Row("failure", $"{r.FailedPhase}: {r.Failure}");
        Row("volume", ByteSize.Format(r.VolumeBytes));
        Row("bytes on the wire", F($"{ByteSize.Format(r.BytesOnWire)} ({100 * r.WireRatio:0.0}% of the volume)"));
        Row("blocks", N(r.Blocks));
        Row("  zero", N(r.ZeroBlocks));
        Row("  rebuilt from the destination's index", N(r.BlocksFromIndex));
        Row("  sent", N(r.BlocksSent));
        Row("copy rounds", N(r.Rounds));
        Row("downtime (VM paused -> resumed)", r.DowntimeMs is { } ms ? F($"{ms:0} ms") : "-");
        if (r.PausedToVerifiedMs is { } verifiedAfter && r.PausedToSwitchedMs is { } switchedAfter)
            Row("  after the pause", F($"destination verified {verifiedAfter:0} ms, disk switched {switchedAfter:0} ms"));
        if (r.WholeVm)
        {
            Row("whole VM moved to", r.DestinationHost ?? "-");
            Row("  memory sent by QEMU", r.MemoryBytes is { } memory ? ByteSize.Format(memory) : "-");
            if (r.QemuDowntimeMs is { } qemu && r.StorageDowntimeMs is { } storage)
                Row("  downtime split", F($"QEMU {qemu:0} ms, storage {storage:0} ms"));
            Row("guest carried on in the destination QEMU", r.GuestContinued == true ? "yes" : "NO");
        }

        Row("longest stall the VM saw", F($"{r.VmLongestGapMs:0} ms"));
        Row($"records the VM ({r.Vm}) wrote", F($"{N(r.RecordsWritten)} ({N(r.RecordsAfterCutover)} after the cut-over)"));
        Row(r.State == DemoResult.Succeeded ? "records intact on the destination" : "records intact on the source (the VM runs there again)",
            N(r.RecordsVerified));
        Row("destination verified by the transfer", r.DestinationVerified ? "yes" : "NO");
        Row("unwritten blocks equal the source's", r.RestMatchesSource switch { true => "yes", false => "NO", null => "-" });
        Row("verified", r.Verified ? "yes" : "NO");
        Row("time", F($"{r.MigrationSeconds:0.0} s migrating, {r.Seconds:0.0} s in all"));
        return table;
    }
}
