using Teleport.Blocks;
using Teleport.Storage.DirtyTracking;

namespace Teleport.Storage.Tests.DirtyTracking;

public sealed class RunAppenderTests
{
    [Fact]
    public void TurnsBitsIntoMaximalRunsAcrossWords()
    {
        var runs = new List<BlockRun>();
        var appender = new RunAppender(runs);

        appender.Add(1000, 0b1011UL | 1UL << 63);
        appender.Add(1064, ulong.MaxValue);
        appender.Add(1128, 0b110UL);
        appender.Add(1192, 1UL);

        Assert.Equal([new(1000, 2), new(1003, 1), new(1063, 65), new(1129, 2), new(1192, 1)], runs);
    }

    [Fact]
    public void NeverMergesIntoRunsThatWereAlreadyInTheList()
    {
        var runs = new List<BlockRun> { new(0, 64) };
        var appender = new RunAppender(runs);

        appender.Add(64, 1UL);
        appender.Add(128, 0UL);

        Assert.Equal([new(0, 64), new(64, 1)], runs);
    }

    [Fact]
    public void WordsNeedNotBeAligned()
    {
        var runs = new List<BlockRun>();
        var appender = new RunAppender(runs);

        appender.Add(3, 1UL << 63);
        appender.Add(67, 1UL);

        Assert.Equal([new(66, 2)], runs);
    }
}
