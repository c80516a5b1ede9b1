namespace Teleport.Transfer.Tests;

public class ConcurrentWriterTests
{
    [Fact]
    public async Task A_volume_written_during_the_copy_rounds_arrives_as_it_was_at_the_cut_over()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("rrrzta", 200), seed: 3, tail: 77));
        long size = new FileInfo(m.SourcePath).Length;
        var rounds = new List<RoundReport>();
        int writes = 0;

        var (source, destination) = await m.RunAsync(
            m.Destination(),
            ep => m.Source(ep, o => o with
            {
                AutoCutover = false,
                MaxRounds = 4,
                DirtyThresholdBlocks = 0,
                Observer = new RoundRecorder(rounds),
                IdleRoundInterval = TimeSpan.FromMilliseconds(20),
            }),
            drive: async session =>
            {
                // The "VM": writes random ranges (also unaligned, also zeros) until the cut-over, marking them dirty after each write.
                using var writer = new FileStream(m.SourcePath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
                var random = new Random(11);
                byte[] buffer = new byte[10000];
                while (!session.Converged.IsCompleted || writes < 50)
                {
                    long offset = random.NextInt64(0, size - buffer.Length);
                    int length = random.Next(1, buffer.Length);
                    if (random.Next(4) == 0)
                        Array.Clear(buffer);
                    else
                        random.NextBytes(buffer);
                    writer.Position = offset;
                    writer.Write(buffer, 0, length);
                    writer.Flush();
                    m.Tracker.MarkDirtyBytes(offset, length);
                    writes++;
                    await Task.Delay(2);
                }

                // Pause the "VM", then cut over.
                session.BeginCutover();
            });

        Assert.True(writes >= 50);
        Assert.True(source.Rounds >= 2, $"expected several rounds, got {source.Rounds}");
        Assert.Contains(rounds, r => r.Final);
        Assert.Equal(source.VolumeDigest, destination.VolumeDigest);
        m.AssertEqualVolumes();
    }

    private sealed class RoundRecorder(List<RoundReport> rounds) : ITransferObserver
    {
        public void OnRound(RoundReport report)
        {
            lock (rounds)
                rounds.Add(report);
        }
    }
}
