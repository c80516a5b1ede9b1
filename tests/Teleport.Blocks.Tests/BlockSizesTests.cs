namespace Teleport.Blocks.Tests;

public class BlockSizesTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(1024)]
    [InlineData(4096)]
    [InlineData(65536)]
    public void Accepts_powers_of_two_in_range(int size) => BlockSizes.Validate(size);

    [Theory]
    [InlineData(0)]
    [InlineData(-4096)]
    [InlineData(256)]
    [InlineData(3000)]
    [InlineData(4097)]
    [InlineData(131072)]
    public void Rejects_other_sizes_with_a_clear_message(int size)
    {
        var e = Assert.Throws<ArgumentException>(() => BlockSizes.Validate(size));
        Assert.Contains(size.ToString(), e.Message);
        Assert.Contains("power of two", e.Message);
    }

    [Theory]
    [InlineData(0, 4096, 0)]
    [InlineData(1, 4096, 1)]
    [InlineData(4096, 4096, 1)]
    [InlineData(4097, 4096, 2)]
    [InlineData(1L << 40, 512, 1L << 31)]
    public void Counts_a_final_partial_block(long bytes, int blockSize, long expected) =>
        Assert.Equal(expected, BlockSizes.CountBlocks(bytes, blockSize));
}
