namespace Teleport.Blocks.Tests;

public class ZeroBlocksTests
{
    [Fact]
    public void A_non_zero_byte_at_any_position_of_a_block_is_detected()
    {
        byte[] block = new byte[BlockSizes.Default];
        Assert.True(ZeroBlocks.IsZero(block));
        for (int i = 0; i < block.Length; i++)
        {
            block[i] = (byte)(1 << (i % 8));
            Assert.False(ZeroBlocks.IsZero(block), $"byte {i} set was not seen");
            block[i] = 0;
        }
        Assert.True(ZeroBlocks.IsZero(block));
    }

    [Fact]
    public void Works_for_lengths_that_are_not_vector_multiples()
    {
        for (int length = 0; length <= 130; length++)
        {
            byte[] data = new byte[length];
            Assert.True(ZeroBlocks.IsZero(data));
            if (length > 0)
            {
                data[^1] = 0x80;
                Assert.False(ZeroBlocks.IsZero(data));
            }
        }
    }
}
