using System.Globalization;
using System.Text;
using Teleport.Contracts;

namespace Teleport.Orchestrator;

/// <summary>One copy round as the saga recorded it: the dirty blocks it left and the bytes on the wire so far.</summary>
public sealed record RoundPoint(int Round, long DirtyBlocks, long BytesOnWire, DateTimeOffset At);

/// <summary>
/// The copy rounds of an attempt, one point per round (the dashboard's charts are drawn from them), kept in one text
/// column as "round,dirty,bytes,unix-ms" entries separated by ';'. At most <see cref="MaxRoundPoints"/> are kept.
/// </summary>
public sealed partial class MigrationAttempt
{
    /// <summary>More rounds than any round cap allows: the column stays a few kilobytes at most.</summary>
    public const int MaxRoundPoints = 200;

    public string? RoundHistory { get; set; }

    /// <summary>The recorded rounds, oldest first; entries that do not parse are left out. (A method: EF Core maps no property of it.)</summary>
    public IReadOnlyList<RoundPoint> RoundPoints()
    {
        if (string.IsNullOrEmpty(RoundHistory))
            return [];
        var points = new List<RoundPoint>();
        foreach (string entry in RoundHistory.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            if (entry.Split(',') is [var r, var d, var b, var t]
                && int.TryParse(r, CultureInfo.InvariantCulture, out int round) && long.TryParse(d, CultureInfo.InvariantCulture, out long dirty)
                && long.TryParse(b, CultureInfo.InvariantCulture, out long bytes) && long.TryParse(t, CultureInfo.InvariantCulture, out long ms))
                points.Add(new RoundPoint(round, dirty, bytes, DateTimeOffset.FromUnixTimeMilliseconds(ms)));
        }

        return points;
    }

    // Called after Record(round) has added the round's bytes to the running total.
    private void AppendRound(CopyRoundCompleted round)
    {
        if (RoundHistory is not null && RoundHistory.Count(c => c == ';') + 1 >= MaxRoundPoints)
            return;
        var entry = new StringBuilder();
        if (!string.IsNullOrEmpty(RoundHistory))
            entry.Append(RoundHistory).Append(';');
        entry.Append(CultureInfo.InvariantCulture, $"{round.Round},{round.DirtyBlocksRemaining},{BytesOnWire},{round.CompletedAt.ToUnixTimeMilliseconds()}");
        RoundHistory = entry.ToString();
    }
}
