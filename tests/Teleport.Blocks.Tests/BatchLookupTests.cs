namespace Teleport.Blocks.Tests;

/// <summary>
/// <see cref="BlockIndex.ReadVerified"/> on real image files, through io_uring and through the pread fallback: the
/// same answers as one <see cref="BlockIndex.TryReadVerified(in FingerprintPrefix, Span{byte}, out Fingerprint)"/>
/// per lookup, in every case the batch hands to that lookup (stale, truncated, partial, received, colliding), with the
/// table's entries read through its mapping and with O_DIRECT.
/// </summary>
public class BatchLookupTests : IDisposable
{
    private const int BlockSize = 4096;
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    /// <summary>(io_uring, entries read directly): the batched lookup's four ways of reading.</summary>
    public static TheoryData<bool, bool> ReadPaths => new() { { true, false }, { false, false }, { true, true }, { false, true } };

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(ReadPaths))]
    public void Hits_come_back_with_their_blocks_and_misses_cleared_across_several_submissions(bool uring, bool direct)
    {
        // 300 blocks: more than one batch of 128, so the entries and blocks go in three submissions each.
        string image = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, 300).Select(s => (int?)s).ToList());
        using var index = Open(uring, direct);
        index.Update([image]);

        var prefixes = new List<FingerprintPrefix>();
        for (int seed = 1; seed <= 300; seed++)
        {
            prefixes.Add(FingerprintPrefix.Of(TestImages.FingerprintOf(seed)));
            if (seed % 3 == 0)
                prefixes.Add(FingerprintPrefix.Of(TestImages.FingerprintOf(10_000 + seed))); // absent
        }
        var (blocks, hits, found, count) = Run(index, prefixes);

        Assert.Equal(300, count);
        for (int i = 0, seed = 1; i < prefixes.Count; i++)
        {
            var slot = blocks.AsSpan(i * BlockSize, BlockSize);
            if (hits[i])
            {
                Assert.Equal(TestImages.Block(seed), slot.ToArray());
                Assert.Equal(TestImages.FingerprintOf(seed), found[i]);
                seed++;
            }
            else
            {
                Assert.True(ZeroBlocks.IsZero(slot), $"miss {i} not cleared");
                Assert.Equal(default, found[i]);
            }
        }
        Assert.Equal(300, index.Stats.LookupHits);
        Assert.Equal(100, index.Stats.LookupMisses);
        Assert.Equal(400, index.BatchResolved); // every one in the batch, none handed to the single lookup
        Assert.Equal(direct ? 300 : 0, index.EntriesReadDirect); // every hit's entry by a direct read, none mapped
        Assert.Equal(uring ? "io_uring" : "pread (chosen)", index.BatchReadMethod);
    }

    [Theory]
    [MemberData(nameof(ReadPaths))]
    public void A_block_changed_since_indexing_is_not_a_hit_and_its_neighbours_still_are(bool uring, bool direct)
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, 3, 4]);
        using var index = Open(uring, direct);
        index.Update([image]);
        TestImages.Overwrite(image, 1, TestImages.Block(50));

        var (blocks, hits, _, count) = Run(index, [.. new[] { 1, 2, 3, 4, 50 }.Select(s => FingerprintPrefix.Of(TestImages.FingerprintOf(s)))]);

        Assert.Equal([true, false, true, true, false], hits);
        Assert.Equal(3, count);
        Assert.True(ZeroBlocks.IsZero(blocks.AsSpan(BlockSize, BlockSize)));
        Assert.Equal(TestImages.Block(3), blocks.AsSpan(2 * BlockSize, BlockSize).ToArray());
        Assert.Equal(1, index.Stats.StaleCandidates);
    }

    [Theory]
    [MemberData(nameof(ReadPaths))]
    public void A_truncated_volume_and_a_partial_last_block_give_what_the_single_lookup_gives(bool uring, bool direct)
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, 3, 4, 5, 6]);
        // The last block of a second image is 1,000 bytes: indexed zero-padded, read back short.
        string odd = _dir.File("odd.img");
        File.WriteAllBytes(odd, [.. TestImages.Block(7), .. TestImages.Block(8).AsSpan(0, 1000)]);
        using var index = Open(uring, direct);
        index.Update([image, odd]);
        using (var stream = new FileStream(image, FileMode.Open))
            stream.SetLength(3 * BlockSize + 100); // blocks 0-2 whole, block 3 short, 4-5 gone

        byte[] padded = new byte[BlockSize];
        TestImages.Block(8).AsSpan(0, 1000).CopyTo(padded);
        var prefixes = new[] { 1, 3, 4, 5, 6, 7 }.Select(s => FingerprintPrefix.Of(TestImages.FingerprintOf(s)))
            .Append(FingerprintPrefix.Of(Fingerprint.Compute(padded))).ToList();
        var (blocks, hits, found, _) = Run(index, prefixes);

        Assert.Equal([true, true, false, false, false, true, true], hits);
        Assert.Equal(padded, blocks.AsSpan(6 * BlockSize, BlockSize).ToArray());
        Assert.Equal(Fingerprint.Compute(padded), found[6]);
        for (int i = 2; i < 5; i++)
            Assert.True(ZeroBlocks.IsZero(blocks.AsSpan(i * BlockSize, BlockSize)));
        Assert.Equal(3, index.Stats.StaleCandidates);
    }

    [Theory]
    [MemberData(nameof(ReadPaths))]
    public void Received_blocks_and_keys_with_two_candidates_are_found(bool uring, bool direct)
    {
        // Blocks 1 and 2 share the key (7, 7): a table entry (local.img) and a received one (received.img).
        var shared = new IndexKey(7, 7);
        string received = TestImages.Write(_dir.File("received.img"), [null, 1]);
        string local = TestImages.Write(_dir.File("local.img"), [2]);
        string fourth = TestImages.Write(_dir.File("fourth.img"), [4]);
        using var index = BlockIndex.Open(IndexDir, BlockSize,
            f => f == TestImages.FingerprintOf(1) || f == TestImages.FingerprintOf(2) ? shared : IndexKey.Of(f));
        index.BatchMode = uring ? BatchReadMode.Uring : BatchReadMode.Pread;
        index.ReadEntriesDirect = direct;
        index.Add(TestImages.FingerprintOf(1), received, 1);
        index.Update([local]);
        index.Add(TestImages.FingerprintOf(4), fourth, 0); // a received entry alone

        FingerprintPrefix[] prefixes = [new(7, 7), FingerprintPrefix.Of(TestImages.FingerprintOf(4)), FingerprintPrefix.Of(TestImages.FingerprintOf(2))];
        var (blocks, hits, found, _) = Run(index, prefixes);

        Assert.Equal([true, true, false], hits); // 2's own prefix is not its key here
        Assert.Equal(TestImages.Block(2), blocks.AsSpan(0, BlockSize).ToArray()); // the table's candidate first
        Assert.Equal(TestImages.FingerprintOf(4), found[1]);
        Assert.Equal(2, index.BatchResolved); // the two-candidate key went to the single lookup

        TestImages.Overwrite(local, 0, TestImages.Block(50)); // the table's candidate goes stale: the received one serves
        (blocks, hits, found, _) = Run(index, prefixes[..1]);
        Assert.True(hits[0]);
        Assert.Equal(TestImages.Block(1), blocks);
        Assert.Equal(TestImages.FingerprintOf(1), found[0]);
    }

    [Theory]
    [MemberData(nameof(ReadPaths))]
    public void Keys_sharing_their_summary_tag_are_told_apart_in_the_batch(bool uring, bool direct)
    {
        // Every key gets the same high half, so all share one bucket and one tag: the batch must read past the
        // entries of other keys to each one's own (and past all of them to a miss), without the single lookup.
        const ulong High = 0x5eed_0000_0000_0000;
        string image = TestImages.Write(_dir.File("a.img"), Enumerable.Range(1, 40).Select(s => (int?)s).ToList());
        using var index = BlockIndex.Open(IndexDir, BlockSize, f => new IndexKey(High, f.Second64));
        index.BatchMode = uring ? BatchReadMode.Uring : BatchReadMode.Pread;
        index.ReadEntriesDirect = direct;
        index.Update([image]);

        var prefixes = Enumerable.Range(1, 40).Reverse()
            .Select(seed => new FingerprintPrefix(High, TestImages.FingerprintOf(seed).Second64)).ToList();
        prefixes.Add(new FingerprintPrefix(High, TestImages.FingerprintOf(999).Second64)); // same tag, absent
        var (blocks, hits, found, count) = Run(index, prefixes);

        Assert.Equal(40, count);
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(TestImages.Block(40 - i), blocks.AsSpan(i * BlockSize, BlockSize).ToArray());
            Assert.Equal(TestImages.FingerprintOf(40 - i), found[i]);
        }
        Assert.False(hits[40]);
        Assert.True(ZeroBlocks.IsZero(blocks.AsSpan(40 * BlockSize, BlockSize)));
        Assert.Equal(41, index.BatchResolved);
    }

    [Fact]
    public void The_rings_report_every_completion_short_reads_and_errors_included()
    {
        string path = _dir.File("data.bin");
        File.WriteAllBytes(path, TestImages.Block(1));
        using var file = File.OpenHandle(path);
        int fd = (int)file.DangerousGetHandle();
        foreach (var mode in new[] { BatchReadMode.Uring, BatchReadMode.Pread })
        {
            using var reads = BatchReads.Create(mode, 4);
            Assert.Equal(mode, reads.Mode);
            byte[] buffer = new byte[4 * BlockSize];
            unsafe
            {
                fixed (byte* at = buffer)
                {
                    var ops = new[]
                    {
                        new ReadOp(fd, (nint)at, BlockSize, 0),
                        new ReadOp(fd, (nint)(at + BlockSize), BlockSize, 3000), // runs past the end: short
                        new ReadOp(fd, (nint)(at + 2 * BlockSize), BlockSize, 1 << 20), // past the end: 0
                        new ReadOp(-1, (nint)(at + 3 * BlockSize), BlockSize, 0), // a bad descriptor
                    };
                    int[] results = new int[4];
                    reads.Read(ops, results);
                    Assert.Equal([BlockSize, BlockSize - 3000, 0, -9], results); // -EBADF
                    Assert.Throws<ArgumentException>(() => reads.Read(new ReadOp[reads.Capacity + 1], new int[reads.Capacity + 1]));
                }
            }
            Assert.Equal(TestImages.Block(1), buffer.AsSpan(0, BlockSize).ToArray());
            Assert.Equal(TestImages.Block(1).AsSpan(3000).ToArray(), buffer.AsSpan(BlockSize, BlockSize - 3000).ToArray());
        }
    }

    [Fact]
    public void Wrongly_sized_buffers_are_refused()
    {
        using var index = BlockIndex.Open(IndexDir);
        var prefixes = new FingerprintPrefix[2];
        Assert.Throws<ArgumentException>(() => index.ReadVerified(prefixes, new byte[BlockSize], new bool[2], new Fingerprint[2]));
        Assert.Throws<ArgumentException>(() => index.ReadVerified(prefixes, new byte[2 * BlockSize], new bool[1], new Fingerprint[2]));
    }

    private BlockIndex Open(bool uring, bool direct)
    {
        var index = BlockIndex.Open(IndexDir);
        index.BatchMode = uring ? BatchReadMode.Uring : BatchReadMode.Pread;
        index.ReadEntriesDirect = direct;
        index.PredictsLocality = false; // the entry path's cases; prediction's in LocalityPredictionTests
        return index;
    }

    internal static (byte[] Blocks, bool[] Hits, Fingerprint[] Found, int Count) Run(BlockIndex index, IReadOnlyList<FingerprintPrefix> prefixes)
    {
        byte[] blocks = new byte[prefixes.Count * BlockSize];
        blocks.AsSpan().Fill(0xAA); // a miss must clear its slot
        bool[] hits = new bool[prefixes.Count];
        var found = new Fingerprint[prefixes.Count];
        int count = index.ReadVerified(prefixes.ToArray(), blocks, hits, found);
        return (blocks, hits, found, count);
    }
}
