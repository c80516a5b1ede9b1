using System.Text;

namespace Teleport.Blocks.Tests;

public class FingerprintTests
{
    [Fact]
    public void Matches_the_SHA256_test_vectors()
    {
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            Fingerprint.Compute("abc"u8).ToString());
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            Fingerprint.Compute([]).ToString());
        Assert.Equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            Fingerprint.Compute(Encoding.ASCII.GetBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).ToString());
    }

    [Fact]
    public void Round_trips_through_bytes_and_exposes_the_first_eight_as_prefix()
    {
        var fingerprint = Fingerprint.Compute("abc"u8);
        byte[] bytes = new byte[40];
        fingerprint.WriteTo(bytes.AsSpan(4));
        var read = Fingerprint.Read(bytes.AsSpan(4));
        Assert.Equal(fingerprint, read);
        Assert.True(fingerprint == read);
        Assert.Equal(fingerprint.GetHashCode(), read.GetHashCode());
        Assert.Equal(0xeacf018fbf1678baUL, fingerprint.Prefix64); // ba 78 16 bf 8f 01 cf ea, little-endian
        Assert.Equal(0x2322ae5dde404141UL, fingerprint.Second64);
        Assert.NotEqual(fingerprint, Fingerprint.Compute("abd"u8));
    }

    [Fact]
    public void Rejects_spans_shorter_than_32_bytes()
    {
        Assert.Throws<ArgumentException>(() => Fingerprint.Read(new byte[31]));
        Assert.Throws<ArgumentException>(() => Fingerprint.Compute("abc"u8).WriteTo(new byte[31]));
    }

    [Fact]
    public void Zero_fingerprints_hash_all_zero_blocks()
    {
        foreach (int size in new[] { 512, 4096, 65536 })
            Assert.Equal(Fingerprint.Compute(new byte[size]), ZeroFingerprints.For(size));
    }

    [Fact]
    public void ComputePadded_fingerprints_a_short_last_block_zero_padded()
    {
        byte[] block = new byte[4096];
        byte[] scratch = new byte[4096];
        block[0] = 7;
        block[99] = 9;

        Assert.Equal(Fingerprint.Compute(block), Fingerprint.ComputePadded(block.AsSpan(0, 100), scratch));
        Assert.Equal(Fingerprint.Compute(block), Fingerprint.ComputePadded(block, scratch));
        Assert.Throws<ArgumentException>(() => Fingerprint.ComputePadded(new byte[4097], scratch));
    }
}
