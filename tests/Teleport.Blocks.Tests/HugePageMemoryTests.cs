using System.Globalization;

namespace Teleport.Blocks.Tests;

/// <summary>The key summary's memory: huge pages where the kernel offers them, every byte usable, freed on dispose.</summary>
public class HugePageMemoryTests
{
    private const long Length = 8L << 20;

    [Fact]
    public unsafe void A_large_block_is_backed_by_huge_pages_and_holds_what_is_written()
    {
        using var memory = HugePageMemory.Allocate(Length);
        Assert.Equal(Length, memory.Length);
        Assert.Equal(0, (long)memory.Pointer % (2 << 20));
        var bytes = new Span<byte>(memory.Pointer, (int)Length);
        for (int i = 0; i < bytes.Length; i += 4096)
            bytes[i] = (byte)(i >> 12);
        for (int i = 0; i < bytes.Length; i += 4096)
            Assert.Equal((byte)(i >> 12), bytes[i]);

        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        Assert.DoesNotContain("[never]", mode); // the kernel offers them (madvise or always)
        Assert.True(AnonHugePagesKb((long)memory.Pointer) >= 2048, "no huge page backs the 8 MiB summary block");
    }

    [Fact]
    public unsafe void A_small_block_is_aligned_to_a_cache_line()
    {
        using var memory = HugePageMemory.Allocate(1000);
        Assert.Equal(0, (long)memory.Pointer % 64);
        new Span<byte>(memory.Pointer, 1000).Fill(0xAB);
        Assert.False(memory.IsInvalid);
        memory.Dispose();
        Assert.True(memory.IsClosed);
    }

    [Fact]
    public void A_negative_length_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => HugePageMemory.Allocate(-1));
    }

    // The AnonHugePages of the mapping that holds `address`, in KiB.
    private static long AnonHugePagesKb(long address) =>
        long.Parse(Smaps.Field(address, "AnonHugePages").Split(' ')[0], CultureInfo.InvariantCulture);
}
