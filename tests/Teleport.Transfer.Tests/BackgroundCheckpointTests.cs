namespace Teleport.Transfer.Tests;

/// <summary>The destination's checkpoints flush in the background: a slow disk does not stop it reading the link.</summary>
public class BackgroundCheckpointTests
{
    [Fact]
    public async Task Frames_are_applied_while_a_checkpoint_waits_for_the_disk_and_its_acknowledgement_still_comes()
    {
        using var m = new Migration(VolumeBuilder.Build(new string('r', 1024), seed: 31));
        const long Progress = 256 << 10;
        long written = 0, progressed = -1;
        int held = 0;
        void SlowFirstFlush()
        {
            if (Interlocked.Exchange(ref held, 1) != 0)
                return;
            // A flush on the reading loop would hold every later write until it returned: this one waits for them.
            long at = Interlocked.Read(ref written);
            SpinWait.SpinUntil(() => Interlocked.Read(ref written) >= at + Progress, TimeSpan.FromSeconds(20));
            Interlocked.Exchange(ref progressed, Interlocked.Read(ref written) - at);
        }

        // A window of 1 MiB: the source stops for acknowledgements, which only the background checkpoints give.
        var (source, destination) = await m.RunAsync(
            m.Destination(o => o with
            {
                CheckpointBytes = 256 << 10,
                AfterBlockWrite = (_, length) => Interlocked.Add(ref written, length),
                BeforeFlush = SlowFirstFlush,
            }),
            ep => m.Source(ep, o => o with { MaxUnackedBytes = 1 << 20, CompressionLevel = 0 }));

        m.AssertEqualVolumes();
        Assert.True(destination.Verified);
        Assert.Equal(source.VolumeDigest, destination.VolumeDigest);
        Assert.Equal(1, held);
        Assert.True(Interlocked.Read(ref progressed) >= Progress,
            $"only {Interlocked.Read(ref progressed)} bytes were written while the first checkpoint's flush was held");
    }
}
