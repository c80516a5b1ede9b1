using System.Globalization;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>Human rendering of a completed transfer.</summary>
internal static class TransferTables
{
    public static Table Summary(TransferResult s, long volumeBytes)
    {
        var table = new Table().Border(TableBorder.Simple).HideHeaders().AddColumn("").AddColumn(new TableColumn("").RightAligned());
        void Row(string name, string value) => table.AddRow(name, Markup.Escape(value));
        string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        Row("verified", s.Verified ? "yes" : "NO");
        Row("volume", ByteSize.Format(volumeBytes));
        Row("bytes on the wire", volumeBytes > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{ByteSize.Format(s.BytesOnWire)} ({100.0 * s.BytesOnWire / volumeBytes:0.0}% of the volume)")
            : ByteSize.Format(s.BytesOnWire));
        Row("  index stream", ByteSize.Format(s.IndexBytes));
        Row("  block data", ByteSize.Format(s.DataBytes));
        Row("blocks", N(s.Blocks));
        Row("  zero", N(s.ZeroBlocks));
        Row("  rebuilt from the destination's index", N(s.BlocksFromIndex));
        Row("  copied from repeats inside the volume", N(s.BlocksFromVolume));
        Row("  sent", N(s.BlocksSent));
        Row("copy rounds", N(s.Rounds));
        Row("reconnects", N(s.Reconnects));
        Row("time", string.Create(CultureInfo.InvariantCulture, $"{s.Seconds:0.00} s"));
        return table;
    }
}
