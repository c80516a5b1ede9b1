using CsCheck;

namespace Teleport.Blocks.Tests;

public class FingerprintPrefixTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Is_the_first_16_bytes_of_the_fingerprint_and_round_trips()
    {
        Gen.Byte.Array[0, 256].Sample(data =>
        {
            var fingerprint = Fingerprint.Compute(data);
            var prefix = FingerprintPrefix.Of(fingerprint);
            byte[] full = new byte[Fingerprint.Size], bytes = new byte[FingerprintPrefix.Size + 3];
            fingerprint.WriteTo(full);
            prefix.WriteTo(bytes.AsSpan(3));
            Assert.Equal(full.AsSpan(0, FingerprintPrefix.Size).ToArray(), bytes.AsSpan(3).ToArray());
            Assert.Equal(prefix, FingerprintPrefix.Read(bytes.AsSpan(3)));
            Assert.True(prefix.Matches(fingerprint));
            Assert.Equal(fingerprint.ToString()[..32], prefix.ToString());
        });
    }

    [Fact]
    public void Does_not_match_a_fingerprint_differing_in_its_first_16_bytes_and_rejects_short_spans()
    {
        var a = Fingerprint.Compute("abc"u8);
        var b = Fingerprint.Compute("abd"u8);
        Assert.False(FingerprintPrefix.Of(a).Matches(b));
        Assert.Throws<ArgumentException>(() => FingerprintPrefix.Read(new byte[15]));
        Assert.Throws<ArgumentException>(() => FingerprintPrefix.Of(a).WriteTo(new byte[15]));
    }

    [Fact]
    public void A_prefix_lookup_returns_the_block_and_its_full_fingerprint()
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, null]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);

        byte[] block = new byte[4096];
        var expected = TestImages.FingerprintOf(2);
        Assert.True(index.MayContain(FingerprintPrefix.Of(expected)));
        Assert.True(index.TryReadVerified(FingerprintPrefix.Of(expected), block, out var found));
        Assert.Equal(expected, found);
        Assert.Equal(TestImages.Block(2), block);

        // The index keys by these 16 bytes: a prefix of other content is not there and reads nothing.
        var absent = FingerprintPrefix.Of(TestImages.FingerprintOf(3));
        Assert.False(index.MayContain(absent));
        Assert.False(index.TryReadVerified(absent, block, out _));
        Assert.True(ZeroBlocks.IsZero(block));
        Assert.Equal((1, 1), (index.Stats.LookupHits, index.Stats.LookupMisses));
    }

    [Fact]
    public void A_prefix_lookup_finds_received_blocks_too()
    {
        string received = TestImages.Write(_dir.File("received.img"), [null, 5]);
        using var index = BlockIndex.Open(IndexDir);
        index.Add(TestImages.FingerprintOf(5), received, 1);

        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(FingerprintPrefix.Of(TestImages.FingerprintOf(5)), block, out var found));
        Assert.Equal(TestImages.FingerprintOf(5), found);
    }

    [Fact]
    public void A_forced_prefix_collision_returns_the_other_content_with_its_own_full_fingerprint()
    {
        // Every key collides: what a 128-bit prefix collision would look like. The caller gets the block it asked
        // for by prefix, but with the fingerprint of what was really read, so it never records the wrong one.
        string image = TestImages.Write(_dir.File("a.img"), [1]);
        using var index = BlockIndex.Open(IndexDir, BlockSizes.Default, _ => new IndexKey(7, 7));
        index.Update([image]);

        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(FingerprintPrefix.Of(TestImages.FingerprintOf(2)), block, out var found));
        Assert.Equal(TestImages.FingerprintOf(1), found);
        Assert.Equal(TestImages.Block(1), block);
        // A lookup by full fingerprint is not fooled by the same collision.
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(2), block));
    }
}
