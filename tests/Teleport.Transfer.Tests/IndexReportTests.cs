namespace Teleport.Transfer.Tests;

/// <summary>When the source reports the index (the storage worker's IndexStreamed): as the destination's list ends.</summary>
public sealed class IndexReportTests
{
    [Fact]
    public async Task The_index_is_reported_when_the_request_list_ends_not_after_the_rate_limited_blocks_were_sent()
    {
        const int Blocks = 1024;
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", Blocks), seed: 41));
        var recorder = new OutstandingAtIndex();

        // 4 MiB of random blocks at 4 MB/s: the blocks requested during the index phase take about a second to send,
        // while the destination's RequestEnd follows the IndexEnd at once.
        var (source, _) = await m.RunAsync(m.Destination(), ep => m.Source(ep, o => o with
        {
            Bandwidth = ByteRate.FromBitsPerSecond(32e6),
            Observer = recorder,
        }), drive: session =>
        {
            recorder.Source = session;
            return Task.CompletedTask;
        });

        m.AssertEqualVolumes();
        Assert.Equal(Blocks, source.BlocksSent);
        var report = Assert.Single(recorder.Reports);
        Assert.Equal(Blocks, report.Requested);
        Assert.True(recorder.Outstanding > Blocks / 4,
            $"{recorder.Outstanding} of {Blocks} requested blocks were still to send when the index was reported");
    }

    private sealed class OutstandingAtIndex : ITransferObserver
    {
        public volatile SourceSession? Source;

        public List<IndexReport> Reports { get; } = [];

        public long Outstanding { get; private set; } = -1;

        public void OnIndexResolved(IndexReport report)
        {
            lock (Reports)
            {
                Reports.Add(report);
                Outstanding = Source?.OutstandingBlocks ?? -1;
            }
        }
    }
}
