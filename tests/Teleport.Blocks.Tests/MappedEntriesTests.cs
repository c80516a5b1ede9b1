using System.Runtime.CompilerServices;

namespace Teleport.Blocks.Tests;

/// <summary>
/// The working table's mapping: lookups read it at random, so faults read no more than the page they touch (the
/// kernel's VM_RAND_READ, "rr" in smaps' VmFlags); a pass over the whole table (a save or merge holding a lease) reads
/// ahead ("sr") until its lease is returned.
/// </summary>
public class MappedEntriesTests
{
    private const int Entries = 100_000; // 2.4 MB: more than one page, more than one 2 MiB folio

    [Fact]
    public void Lookups_fault_page_by_page_and_a_pass_reads_ahead_until_its_lease_returns()
    {
        using var dir = new TempDirectory();
        using var entries = Filled(dir.Path);
        long address = Address(entries);

        Assert.Equal(Entries - 1, entries.At(Entries - 1).Block);
        Assert.Equal("random", ReadAdvice(address));
        using (entries.Borrow())
        {
            Assert.Equal("in order", ReadAdvice(address));
            using (entries.Borrow())
                Assert.Equal("in order", ReadAdvice(address));
            Assert.Equal("in order", ReadAdvice(address)); // another pass is still under way
        }
        Assert.Equal("random", ReadAdvice(address));
        Assert.Equal(7, entries.At(7).Block); // the entries read the same under either advice
    }

    [Fact]
    public void A_table_borrowed_while_disposed_stays_mapped_until_the_lease_returns()
    {
        using var dir = new TempDirectory();
        var entries = Filled(dir.Path);
        long address = Address(entries);
        var lease = entries.Borrow();
        entries.Dispose();
        Assert.Equal("in order", ReadAdvice(address)); // still mapped: the save may finish its pass
        Assert.Equal(Entries - 1, entries.Span[Entries - 1].Block);
        lease.Dispose(); // unmaps now (what a later mapping at the same address would be is not this test's)
    }

    [Fact]
    public void An_empty_table_lends_nothing_and_advises_nothing()
    {
        using var dir = new TempDirectory();
        using var entries = MappedEntries.Create(dir.Path);
        entries.Map();
        using var lease = entries.Borrow(); // no mapping: nothing to keep, no advice to give
        Assert.Equal(0, entries.Count);
    }

    private static MappedEntries Filled(string directory)
    {
        var entries = MappedEntries.Create(directory);
        for (int i = 0; i < Entries; i++)
            entries.Append(new IndexEntry(new IndexKey((ulong)i, (ulong)i), 1, i));
        entries.Map();
        return entries;
    }

    private static unsafe long Address(MappedEntries entries) => (long)Unsafe.AsPointer(ref entries.Span[0]);

    // What the kernel was told of the mapping's reads: "rr" (random), "sr" (in order) or neither in VmFlags.
    private static string ReadAdvice(long address)
    {
        string[] flags = Smaps.Field(address, "VmFlags").Split(' ');
        return (flags.Contains("rr"), flags.Contains("sr")) switch
        {
            (true, false) => "random",
            (false, true) => "in order",
            (false, false) => "none",
            _ => "both",
        };
    }
}
