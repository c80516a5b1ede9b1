using System.Security.Cryptography;
using System.Text;

namespace Teleport.Blocks.Tests;

public class BlockHasherTests
{
    [Fact]
    public void Uses_libcrypto_directly()
    {
        // The batched verified lookup's speed rests on this path (Teleport runs on Linux): a silent fall back would hide a regression.
        using var hasher = new BlockHasher();
        Assert.True(BlockHasher.DirectAvailable);
        Assert.True(hasher.Direct);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Matches_the_SHA256_test_vectors_on_both_paths(bool useLibcrypto)
    {
        using var hasher = new BlockHasher(useLibcrypto);
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hasher.Compute("abc"u8).ToString());
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hasher.Compute([]).ToString());
        Assert.Equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            hasher.Compute(Encoding.ASCII.GetBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).ToString());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Agrees_with_the_one_shot_hash_block_after_block(bool useLibcrypto)
    {
        // One context reused for many blocks: nothing of a block may carry into the next one's hash.
        using var hasher = new BlockHasher(useLibcrypto);
        var random = new Random(3);
        foreach (int size in (int[])[4096, 1, 63, 64, 65, 4096, 65536, 4096, 0, 512])
        {
            byte[] data = new byte[size];
            random.NextBytes(data);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(data)), hasher.Compute(data).ToString());
        }
    }

    [Fact]
    public void Tells_a_block_changed_by_one_bit()
    {
        using var hasher = new BlockHasher();
        byte[] block = new byte[4096];
        new Random(5).NextBytes(block);
        var before = hasher.Compute(block);
        block[4095] ^= 1;
        Assert.NotEqual(before, hasher.Compute(block));
        block[4095] ^= 1;
        Assert.Equal(before, hasher.Compute(block));
    }

    [Fact]
    public void Refuses_use_after_dispose_and_disposes_twice()
    {
        var hasher = new BlockHasher();
        hasher.Dispose();
        Assert.False(hasher.Direct);
        Assert.Throws<ObjectDisposedException>(() => hasher.Compute(new byte[16]));
    }
}
