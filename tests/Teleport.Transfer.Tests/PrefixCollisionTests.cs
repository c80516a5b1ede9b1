using System.Security.Cryptography;
using Teleport.Blocks;

namespace Teleport.Transfer.Tests;

/// <summary>The index stream names blocks by 128-bit fingerprint prefixes; a prefix collision must not pass as a copy.</summary>
public class PrefixCollisionTests
{
    [Fact]
    public async Task A_local_block_sharing_a_listed_prefix_fails_verification_instead_of_passing_as_the_copy()
    {
        byte[] sourceBytes = VolumeBuilder.Build("rrrrrrrr", seed: 31);
        byte[] other = RandomNumberGenerator.GetBytes(VolumeBuilder.BlockSize);
        using var m = new Migration(sourceBytes);
        string goldenPath = m.Dir.File("golden.img");
        File.WriteAllBytes(goldenPath, other);

        // SHA-256 prefixes do not collide on demand, so the index is told that block 3's content and the golden
        // image's share a key: its prefix lookup then verifies the golden block as a 128-bit match for block 3.
        var wanted = Fingerprint.Compute(sourceBytes.AsSpan(3 * VolumeBuilder.BlockSize, VolumeBuilder.BlockSize));
        var held = Fingerprint.Compute(other);
        using var index = BlockIndex.Open(m.Dir.File("index"), BlockSizes.Default, fp =>
            fp.Prefix64 == wanted.Prefix64 || fp.Prefix64 == held.Prefix64 ? new IndexKey(7, 7) : IndexKey.Of(fp));
        index.Update([goldenPath]);
        byte[] probe = new byte[VolumeBuilder.BlockSize];
        Assert.True(index.TryReadVerified(FingerprintPrefix.Of(wanted), probe, out var found));
        Assert.Equal(held, found);

        var failure = await Assert.ThrowsAsync<TransferException>(() =>
            m.RunAsync(m.Destination(o => o with { Index = index }), ep => m.Source(ep)));

        // The destination built block 3 from the colliding block, recorded that block's full fingerprint, and the
        // volume digest (over full fingerprints) told the two sides apart: no verified copy with wrong content.
        Assert.Equal(TransferErrorCode.VerificationFailed, failure.Code);
        byte[] written = File.ReadAllBytes(m.DestinationPath);
        Assert.Equal(other, written.AsSpan(3 * VolumeBuilder.BlockSize, VolumeBuilder.BlockSize).ToArray());
        Assert.Equal(sourceBytes, File.ReadAllBytes(m.SourcePath)); // the source is untouched
    }

    [Fact]
    public async Task Without_a_collision_the_same_index_rebuilds_shared_blocks_from_their_prefix()
    {
        byte[] sourceBytes = VolumeBuilder.Build("rrrrrrrr", seed: 32);
        using var m = new Migration(sourceBytes);
        string goldenPath = m.Dir.File("golden.img");
        File.WriteAllBytes(goldenPath, sourceBytes.AsSpan(0, 4 * VolumeBuilder.BlockSize).ToArray());
        using var index = BlockIndex.Open(m.Dir.File("index"));
        index.Update([goldenPath]);

        var (source, _) = await m.RunAsync(m.Destination(o => o with { Index = index }), ep => m.Source(ep));

        Assert.True(source.Verified);
        Assert.Equal(4, source.BlocksFromIndex);
        Assert.Equal(4, source.BlocksSent);
        m.AssertEqualVolumes();
    }
}
