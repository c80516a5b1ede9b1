using Teleport.Contracts;

namespace Teleport.Orchestrator.Tests;

/// <summary>The copy rounds an attempt keeps for the dashboard's charts: one point per round, bounded, unreadable entries left out.</summary>
public sealed class RoundHistoryTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void EachRound_AddsAPoint_WithItsDirtyBlocksAndTheBytesOnTheWireSoFar()
    {
        var run = new MigrationAttempt();
        run.Record(new CopyRoundCompleted(Guid.Empty, 1, 10, 1000, 50, 1e6, Start));
        run.Record(new CopyRoundCompleted(Guid.Empty, 2, 5, 400, 7, 1e6, Start.AddSeconds(2)));

        Assert.Equal(
            [new RoundPoint(1, 50, 1000, Start), new RoundPoint(2, 7, 1400, Start.AddSeconds(2))],
            run.RoundPoints());
    }

    [Fact]
    public void History_StopsAtItsCap_AndANewAttemptStartsEmpty()
    {
        var row = new MigrationState();
        for (int round = 1; round <= MigrationAttempt.MaxRoundPoints + 20; round++)
            row.Run.Record(new CopyRoundCompleted(Guid.Empty, round, 1, 1, round, 1, Start.AddSeconds(round)));

        Assert.Equal(MigrationAttempt.MaxRoundPoints, row.Run.RoundPoints().Count);
        Assert.Equal(MigrationAttempt.MaxRoundPoints, row.Run.RoundPoints()[^1].Round);
        row.StartNextAttempt();
        Assert.Empty(row.Run.RoundPoints());
    }

    [Fact]
    public void EntriesThatDoNotParse_AreLeftOut_TheRestRead()
    {
        var run = new MigrationAttempt { RoundHistory = "1,5,100,1000;garbage;2,x,1,1;3,1,200,3000;4,1,2" };

        Assert.Equal([1, 3], run.RoundPoints().Select(p => p.Round));
    }
}
