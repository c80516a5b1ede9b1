namespace Teleport.Transfer.Tests;

public class MigrationTests
{
    [Fact]
    public async Task Copies_a_volume_with_zero_runs_repeats_and_a_partial_last_block()
    {
        // 64 blocks: random, zero runs, 8 copies of pattern 'a', text; plus 1000 bytes of a partial block.
        string recipe = "rrrrzzzzzzzzaaaattttrrrrzzzzaaaarrrrtttt" + VolumeBuilder.Repeat("rz", 12);
        using var m = new Migration(VolumeBuilder.Build(recipe, seed: 1, tail: 1000));

        var (source, destination) = await m.RunAsync(m.Destination(), ep => m.Source(ep));

        m.AssertEqualVolumes();
        Assert.True(source.Verified);
        Assert.True(destination.Verified);
        Assert.Equal(source.VolumeDigest, destination.VolumeDigest);
        Assert.Equal(65, source.Blocks);
        Assert.Equal(recipe.Count(c => c == 'z'), source.ZeroBlocks);
        // 'a' blocks repeat: only the first crosses the wire. Zero blocks never do.
        long nonZero = 65 - recipe.Count(c => c == 'z');
        Assert.Equal(nonZero - 7, source.BlocksSent);
        Assert.Equal(source.BlocksSent, destination.BlocksSent);
        Assert.Equal(0, source.Reconnects);
        Assert.True(source.BytesOnWire < new FileInfo(m.SourcePath).Length, "compression and zero runs must beat the raw size");
    }
}
