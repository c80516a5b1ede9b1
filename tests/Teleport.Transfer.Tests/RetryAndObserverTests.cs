using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

public class RetryAndObserverTests
{
    [Fact]
    public async Task A_restarted_source_reuses_what_the_destination_already_holds()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", 3000), seed: 13));
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var destination = new DestinationSession(m.Destination(o => o with { CheckpointBytes = 256 * 1024 }));
        var endpoint = destination.Start();
        var destinationRun = destination.RunAsync(guard.Token);

        // First attempt: the connection is cut mid-copy and this source does not retry (its process "died").
        await using (var proxy = new FrameCuttingProxy(endpoint, MessageType.Data, 6))
        {
            await using var first = new SourceSession(m.Source(proxy.EndPoint, o => o with { MaxReconnectAttempts = 0 }), m.Tracker);
            var error = await Assert.ThrowsAsync<TransferException>(() => first.RunAsync(guard.Token));
            Assert.Equal(TransferErrorCode.ConnectionLost, error.Code);

            // Let the destination drain the first connection before the proxy goes away (and before a new
            // connection would replace it): the five whole frames the proxy forwarded become durable.
            string statePath = m.DestinationPath + ".teleport-state";
            for (int i = 0; i < 200 && (DestinationState.Load(statePath)?.Presence.Count ?? 0) < 5 * 256; i++)
                await Task.Delay(50, guard.Token);
        }

        // Second attempt: a new source session starts over with the index; the destination re-hashes what it kept.
        await using var second = new SourceSession(m.Source(endpoint), m.Tracker);
        var result = await second.RunAsync(guard.Token);
        await destinationRun;
        m.AssertEqualVolumes();
        Assert.True(result.BlocksSent <= 3000 - 5 * 256, $"the retry sent {result.BlocksSent} of 3000 blocks");
        Assert.Equal(0, result.BlocksFromIndex);
    }

    [Fact]
    public async Task The_observers_see_the_phases_in_order_and_the_index_totals()
    {
        using var m = new Migration(VolumeBuilder.Build("rrzzaarrtt", seed: 14));
        var source = new Recorder();
        var destination = new Recorder();
        await m.RunAsync(m.Destination(o => o with { Observer = destination }), ep => m.Source(ep, o => o with { Observer = source }));

        Assert.Equal(
            [TransferPhase.Connecting, TransferPhase.Index, TransferPhase.Request, TransferPhase.Copy, TransferPhase.Converged, TransferPhase.Final, TransferPhase.Completed],
            source.Phases.Distinct());
        Assert.Equal([TransferPhase.Index, TransferPhase.Request, TransferPhase.Copy, TransferPhase.Final, TransferPhase.Completed], destination.Phases.Distinct());
        var report = Assert.Single(source.Indexes);
        Assert.Equal(10, report.Blocks);
        Assert.Equal(2, report.ZeroBlocks);
        Assert.Equal(1, report.FromVolume); // the second 'a'
        Assert.Equal(7, report.Requested);
        Assert.Equal(report, Assert.Single(destination.Indexes) with { IndexBytes = report.IndexBytes });
        Assert.All(source.Rounds, r => Assert.True(r.Seconds >= 0 && r.WireBytes > 0));
        Assert.True(source.Rounds[^1].Final);
    }

    private sealed class Recorder : ITransferObserver
    {
        public List<TransferPhase> Phases { get; } = [];
        public List<IndexReport> Indexes { get; } = [];
        public List<RoundReport> Rounds { get; } = [];

        public void OnPhase(TransferPhase phase)
        {
            lock (Phases)
                Phases.Add(phase);
        }

        public void OnIndexResolved(IndexReport report) => Indexes.Add(report);

        public void OnRound(RoundReport report) => Rounds.Add(report);
    }
}
