namespace Teleport.Transfer.Tests;

/// <summary>The destination's digest is over what its volume holds on disk, not over what it believes it wrote.</summary>
public class ReadBackTests
{
    [Fact]
    public async Task A_block_that_changes_on_disk_after_its_write_fails_the_migration()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrrrrrrtttt", seed: 7));
        long target = 5L * VolumeBuilder.BlockSize;
        // A failing disk (or a bug) leaves different bytes than were written, once, in block 5.
        int corrupted = 0;
        void Corrupt(long offset, int length)
        {
            if (target < offset || target >= offset + length || Interlocked.Exchange(ref corrupted, 1) != 0)
                return;
            using var f = new FileStream(m.DestinationPath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            f.Position = target + 100;
            f.WriteByte(0x5A);
        }

        var failure = await Assert.ThrowsAsync<TransferException>(() =>
            m.RunAsync(m.Destination(o => o with { AfterBlockWrite = Corrupt }), ep => m.Source(ep)));

        Assert.Equal(1, corrupted);
        Assert.Equal(TransferErrorCode.VerificationFailed, failure.Code);
    }

    [Fact]
    public async Task Blocks_as_written_pass_the_read_back()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrrrrrrttttzzzz", seed: 8, tail: 700));
        int writes = 0;

        var (source, destination) = await m.RunAsync(
            m.Destination(o => o with { AfterBlockWrite = (_, _) => Interlocked.Increment(ref writes) }), ep => m.Source(ep));

        m.AssertEqualVolumes();
        Assert.True(destination.Verified);
        Assert.Equal(source.VolumeDigest, destination.VolumeDigest);
        Assert.True(writes > 0);
    }
}
