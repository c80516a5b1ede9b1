using System.Security.Cryptography;

namespace Teleport.Transfer.Tests;

/// <summary>The copies of written runs that the destination's read-back compares hashed blocks with.</summary>
public sealed class WrittenCopiesTests
{
    [Fact]
    public void A_block_inside_a_kept_run_is_found_with_the_bytes_written_there()
    {
        using var copies = new WrittenCopies(1 << 20);
        byte[] first = RandomNumberGenerator.GetBytes(3 * 4096), second = RandomNumberGenerator.GetBytes(4096);
        copies.Keep(second, 10 * 4096);
        copies.Keep(first, 0); // out of order: sorted by Seal
        copies.Seal();

        Assert.True(copies.TryGet(4096, 4096, out var middle));
        Assert.True(middle.SequenceEqual(first.AsSpan(4096, 4096)));
        Assert.True(copies.TryGet(10 * 4096, 4096, out var other));
        Assert.True(other.SequenceEqual(second));
        Assert.False(copies.TryGet(3 * 4096, 4096, out _)); // never written
        Assert.False(copies.TryGet(2 * 4096, 2 * 4096, out _)); // runs past the kept run
    }

    [Fact]
    public void Runs_past_the_budget_are_not_kept_and_a_rewritten_block_disables_every_copy()
    {
        using var copies = new WrittenCopies(WrittenCopies.SlabBytes);
        copies.Keep(new byte[WrittenCopies.SlabBytes - 4096], 0);
        copies.Keep(new byte[2 * 4096], 1000 * 4096); // would need a second slab: over the budget
        copies.Keep(new byte[4096], 300 * 4096); // still fits the first
        copies.Seal();
        Assert.True(copies.TryGet(0, 4096, out _));
        Assert.False(copies.TryGet(1000 * 4096, 4096, out _));
        Assert.True(copies.TryGet(300 * 4096, 4096, out _));

        copies.Clear();
        copies.Keep(new byte[4096], 4096);
        copies.Keep(new byte[4096], 4096); // the same block again: an older copy must never answer
        copies.Seal();
        Assert.False(copies.TryGet(4096, 4096, out _));

        copies.Clear();
        copies.Keep(new byte[4096], 4096);
        copies.Seal();
        Assert.True(copies.TryGet(4096, 4096, out _));
    }
}
