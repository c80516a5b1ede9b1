using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The connection cut in every phase (half a frame delivered, then both sides closed) and resumed.</summary>
public class ResumeTests
{
    // 2600 blocks: enough for several index batches and data frames; zero runs and repeats included.
    private static readonly string Recipe = VolumeBuilder.Repeat("rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrzzaa", 110) + "t"; // index: 4,180 distinct blocks, 2 batches

    [Theory]
    [InlineData(MessageType.Hello, 1)]
    [InlineData(MessageType.IndexBatch, 2)]
    [InlineData(MessageType.IndexEnd, 1)]
    [InlineData(MessageType.Request, 1)]
    [InlineData(MessageType.RequestEnd, 1)]
    [InlineData(MessageType.Data, 4)]
    [InlineData(MessageType.Ack, 1)]
    [InlineData(MessageType.RoundEnd, 1)]
    [InlineData(MessageType.FinalEnd, 1)]
    [InlineData(MessageType.Complete, 1)]
    internal async Task A_connection_cut_in_any_phase_resumes_and_completes(MessageType cutAt, int occurrence)
    {
        using var m = new Migration(VolumeBuilder.Build(Recipe, seed: 7, tail: 123));
        FrameCuttingProxy? proxy = null;
        try
        {
            var (source, destination) = await m.RunAsync(
                m.Destination(o => o with { CheckpointBytes = 1 << 20 }),
                ep => m.Source(ep),
                connectTo: ep => (proxy = new FrameCuttingProxy(ep, cutAt, occurrence)).EndPoint);

            Assert.True(proxy!.HasCut, $"the proxy never saw {cutAt} #{occurrence}");
            Assert.True(source.Reconnects >= 1);
            Assert.True(source.Verified && destination.Verified);
            m.AssertEqualVolumes();
        }
        finally
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
        }
    }

    [Fact]
    public async Task Blocks_the_destination_acknowledged_are_not_sent_again()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", 3000), seed: 9));
        const long window = 512 * 1024;
        FrameCuttingProxy? proxy = null;
        try
        {
            var (source, _) = await m.RunAsync(
                m.Destination(o => o with { CheckpointBytes = 128 * 1024 }),
                ep => m.Source(ep, o => o with { MaxUnackedBytes = window }),
                connectTo: ep => (proxy = new FrameCuttingProxy(ep, MessageType.Data, 8)).EndPoint);

            Assert.True(proxy!.HasCut);
            m.AssertEqualVolumes();
            // At most what was unacknowledged at the cut (the window plus the batch that was being sent) goes again.
            long resent = source.BlocksSent - 3000;
            Assert.InRange(resent, 1, (window + ProtocolConstants.MaxBatchBytes) / VolumeBuilder.BlockSize);
        }
        finally
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_link_that_goes_silent_with_data_in_flight_is_abandoned_and_resumed()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", 2000), seed: 15));
        FrameCuttingProxy? proxy = null;
        try
        {
            var (source, _) = await m.RunAsync(
                m.Destination(o => o with { CheckpointBytes = 256 * 1024 }),
                ep => m.Source(ep, o => o with { ResponseTimeout = TimeSpan.FromSeconds(1) }),
                connectTo: ep => (proxy = new FrameCuttingProxy(ep, MessageType.Data, 3, blackHole: true)).EndPoint);

            Assert.True(proxy!.HasCut);
            Assert.True(source.Reconnects >= 1);
            m.AssertEqualVolumes();
        }
        finally
        {
            if (proxy is not null)
                await proxy.DisposeAsync();
        }
    }
}
