namespace Teleport.Blocks.Tests;

/// <summary>
/// <see cref="BlockIndex.ReadVerified"/> with the table's entries read by O_DIRECT (<see cref="BlockIndex.ReadEntriesDirect"/>)
/// against the mapped path on real files: entries that straddle two pages and on the file's last, partial page, failed
/// and short reads, a table evicted from memory, an entry re-pointed through the mapping since the table was written.
/// </summary>
public class DirectEntryReadsTests : IDisposable
{
    private const int BlockSize = 4096, Blocks = 600;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Direct_reads_answer_as_the_mapping_does_on_straddling_and_last_page_entries(bool uring)
    {
        using var index = Indexed(uring);
        Assert.True(index.TableReadsDirect);
        // 600 entries of 24 bytes: 14,400 bytes, so the last entry is on a partial 4 KiB page, and entry 170 (bytes
        // 4,080-4,104) and others straddle two pages.
        var byKey = Enumerable.Range(1, Blocks).OrderBy(s => IndexKey.Of(TestImages.FingerprintOf(s)), KeyOrder.Instance).ToList();
        var prefixes = Enumerable.Range(1, Blocks + 100).Select(Prefix).ToList(); // 100 absent
        prefixes.Add(Prefix(byKey[170]));
        prefixes.Add(Prefix(byKey[^1]));

        var mapped = Run(index, prefixes, direct: false);
        index.DropTablePages(); // not resident: the direct path reads the disk
        var direct = Run(index, prefixes, direct: true);

        Assert.Equal(Blocks + 2, direct.Count);
        Assert.Equal(mapped.Hits, direct.Hits);
        Assert.Equal(mapped.Blocks, direct.Blocks);
        Assert.Equal(mapped.Found, direct.Found);
        Assert.True(direct.Hits[^2] && direct.Hits[^1]);
        Assert.Equal(TestImages.Block(byKey[^1]), direct.Blocks.AsSpan(direct.Blocks.Length - BlockSize).ToArray());
        Assert.Equal(Blocks + 2, index.EntriesReadDirect);
    }

    [Theory]
    [InlineData(-5)] // EIO
    [InlineData(16)] // short: less than the entry
    [InlineData(0)]
    public void A_failed_or_short_entry_read_falls_back_to_the_mapping(int spoiled)
    {
        using var index = Indexed(uring: true);
        var prefixes = Enumerable.Range(1, Blocks + 50).Select(Prefix).ToList();
        var mapped = Run(index, prefixes, direct: false);
        int reads = 0;
        index.DirectReadFault = results =>
        {
            for (int i = 0; i < results.Length; i++)
                if (reads++ % 3 == 0)
                    results[i] = spoiled;
        };

        var direct = Run(index, prefixes, direct: true);

        Assert.Equal(Blocks, direct.Count);
        Assert.Equal(mapped.Hits, direct.Hits);
        Assert.Equal(mapped.Blocks, direct.Blocks);
        Assert.InRange(index.EntriesReadDirect, Blocks / 2, Blocks - Blocks / 4); // a third spoiled, found by the mapping
        Assert.Equal(0, index.Stats.StaleCandidates);
    }

    [Fact]
    public void An_entry_re_pointed_through_the_mapping_is_read_back_directly()
    {
        string image = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, Blocks).Select(s => (int?)s).ToList());
        string other = TestImages.Write(_dir.File("b.img"), [null, null, null, null]);
        using var index = BlockIndex.Open(_dir.File("index"));
        index.Update([image]);
        index.Save();
        // Block 7 (seed 8) is overwritten and its content written to b.img block 3: its table entry is re-pointed in
        // the mapped page (a dirty page the direct read must not miss).
        TestImages.Overwrite(image, 7, TestImages.Block(9_000));
        TestImages.Overwrite(other, 3, TestImages.Block(8));
        index.Refresh(TestImages.FingerprintOf(8), other, 3);

        var direct = Run(index, [Prefix(8), Prefix(9)], direct: true);

        Assert.Equal([true, true], direct.Hits);
        Assert.Equal(TestImages.Block(8), direct.Blocks.AsSpan(0, BlockSize).ToArray());
        Assert.Equal(0, index.Stats.StaleCandidates); // the new location, not the overwritten one
        Assert.Equal(2, index.EntriesReadDirect);
    }

    private BlockIndex Indexed(bool uring)
    {
        string image = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, Blocks).Select(s => (int?)s).ToList());
        var index = BlockIndex.Open(_dir.File("index"));
        index.BatchMode = uring ? BatchReadMode.Uring : BatchReadMode.Pread;
        index.PredictsLocality = false; // every entry read (prediction would skip most in block order)
        index.Update([image]);
        return index;
    }

    private static FingerprintPrefix Prefix(int seed) => FingerprintPrefix.Of(TestImages.FingerprintOf(seed));

    private static (byte[] Blocks, bool[] Hits, Fingerprint[] Found, int Count) Run(BlockIndex index, IReadOnlyList<FingerprintPrefix> prefixes, bool direct)
    {
        index.ReadEntriesDirect = direct;
        byte[] blocks = new byte[prefixes.Count * BlockSize];
        blocks.AsSpan().Fill(0xAA);
        bool[] hits = new bool[prefixes.Count];
        var found = new Fingerprint[prefixes.Count];
        int count = index.ReadVerified(prefixes.ToArray(), blocks, hits, found);
        return (blocks, hits, found, count);
    }

    private sealed class KeyOrder : IComparer<IndexKey>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare(IndexKey x, IndexKey y) => x.High != y.High ? x.High.CompareTo(y.High) : x.Low.CompareTo(y.Low);
    }
}
