namespace Teleport.Blocks.Tests;

/// <summary>
/// <see cref="BlockIndex.ReadVerified"/> predicting each key at the block after the previous hit
/// (<see cref="BlockIndex.PredictsLocality"/>) against the entry path alone, on real image files, with the entries read
/// through the mapping and with O_DIRECT: the same answers in block order, shuffled, across files, at a file's end and
/// with misses between hits, and never a wrong hit where blocks changed in place after indexing.
/// </summary>
public class LocalityPredictionTests : IDisposable
{
    private const int BlockSize = 4096;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [MemberData(nameof(BatchLookupTests.ReadPaths), MemberType = typeof(BatchLookupTests))]
    public void A_run_in_block_order_is_predicted_after_its_first_entries(bool uring, bool direct)
    {
        // 300 blocks: three chunks of a batch, the anchor carried from one to the next.
        using var index = Indexed(uring, direct, Image("a.img", 1, 300));

        var (entries, predicted) = Compare(index, Seeds(1, 300));

        Assert.Equal(300, entries.Count);
        Assert.Equal(298, predicted.Predicted); // all but the first round's 2: no table entry read for them
        Assert.Equal(direct ? 2 : 0, predicted.ReadDirect);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Shuffled_keys_give_the_same_answers(bool direct)
    {
        using var index = Indexed(uring: true, direct, Image("a.img", 1, 300));
        int[] seeds = Seeds(1, 300).Concat(Seeds(5_001, 5_050)).ToArray(); // 50 absent
        new Random(3).Shuffle(seeds);

        var (entries, predicted) = Compare(index, seeds);

        Assert.Equal(300, entries.Count);
        Assert.InRange(predicted.Predicted, 0, 10); // a shuffle keeps (almost) no neighbours together
        Assert.Equal(direct ? 300 : 0, predicted.ReadDirect); // every hit's entry read once
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Misses_between_hits_give_the_same_answers_and_runs_are_still_predicted(bool direct)
    {
        using var index = Indexed(uring: true, direct, Image("a.img", 1, 300));
        var seeds = new List<int>();
        for (int seed = 1; seed <= 300; seed++)
        {
            seeds.Add(seed);
            if (seed % 20 == 0)
                seeds.AddRange([10_000 + seed, 20_000 + seed, 30_000 + seed]); // three absent after every 20th
        }

        var (entries, predicted) = Compare(index, [.. seeds]);

        Assert.Equal(300, entries.Count);
        // Each run's first hits from their entries (the first run's 2; later, after three misses, the entry rounds take
        // two keys, then eight: seven hits; fewer where a batch's end cuts a round), the rest predicted.
        Assert.InRange(predicted.Predicted, 150, 300 - 15);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_run_continues_into_another_file_through_the_entry_path(bool direct)
    {
        using var index = Indexed(uring: true, direct, Image("a.img", 1, 100), Image("b.img", 101, 200));

        var (entries, predicted) = Compare(index, Seeds(1, 200));

        Assert.Equal(200, entries.Count);
        Assert.Equal(98 + 98, predicted.Predicted); // a.img's first 2 blocks and b.img's first 2 from their entries
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_run_that_crosses_the_end_of_a_file_with_a_partial_block_gives_the_same_answers(bool direct)
    {
        string a = Image("a.img", 1, 10);
        byte[] tail = TestImages.Block(11).AsSpan(0, BlockSize / 2).ToArray();
        using (var stream = new FileStream(a, FileMode.Append))
            stream.Write(tail);
        byte[] padded = new byte[BlockSize];
        tail.CopyTo(padded, 0);
        using var index = Indexed(uring: true, direct, a, Image("b.img", 21, 30));
        var prefixes = Seeds(1, 10).Select(Prefix).Append(FingerprintPrefix.Of(Fingerprint.Compute(padded)))
            .Concat(Seeds(21, 30).Select(Prefix)).ToList();

        var (entries, predicted) = Compare(index, prefixes);

        Assert.Equal(21, entries.Count);
        Assert.True(entries.Hits[10]); // the partial block, padded by the single lookup
        Assert.Equal(padded, entries.Blocks.AsSpan(10 * BlockSize, BlockSize).ToArray());
        // a.img's 8 after its first 2; the partial block's short read sends it and seed 21 to the entry path, then
        // b.img's next 8 (no locality shown: the window widened), then its last.
        Assert.Equal(8 + 1, predicted.Predicted);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocks_changed_in_place_after_indexing_are_never_wrong_hits(bool direct)
    {
        string a = Image("a.img", 1, 40);
        using var index = Indexed(uring: true, direct, a);
        // Seed 10's block (9) and seed 21's (20) now hold new content: their entries are stale, and so is a prediction
        // of either. Seed 21's content is written again at block 30 (seed 31's, now gone), and asked for a second
        // time right after seed 30: its entry still points to block 20, but the block after seed 30's holds it.
        TestImages.Overwrite(a, 9, TestImages.Block(9_000));
        TestImages.Overwrite(a, 20, TestImages.Block(9_001));
        TestImages.Overwrite(a, 30, TestImages.Block(21));
        var prefixes = Seeds(1, 30).Append(21).Concat(Seeds(31, 40)).Select(Prefix).ToList();

        var entries = Run(index, prefixes, predict: false);
        var predicted = Run(index, prefixes, predict: true);

        foreach (var run in new[] { entries, predicted })
        {
            for (int i = 0; i < prefixes.Count; i++)
            {
                if (!run.Hits[i])
                    continue;
                var block = run.Blocks.AsSpan(i * BlockSize, BlockSize);
                Assert.Equal(run.Found[i], Fingerprint.Compute(block)); // the block returned is the content reported
                Assert.Equal(prefixes[i], FingerprintPrefix.Of(run.Found[i])); // and that is the content asked for
            }
        }
        Assert.Equal(41 - 4, entries.Count); // seeds 10, 21 (twice) and 31
        Assert.False(predicted.Hits[9] || predicted.Hits[20] || predicted.Hits[31]);
        // The prediction finds seed 21 where it now is, which its stale entry does not: verified content, a right
        // answer; everywhere else the two agree.
        Assert.True(predicted.Hits[30]);
        Assert.Equal(TestImages.Block(21), predicted.Blocks.AsSpan(30 * BlockSize, BlockSize).ToArray());
        Assert.Equal(entries.Hits.Where((_, i) => i != 30), predicted.Hits.Where((_, i) => i != 30));
    }

    private string Image(string name, int firstSeed, int lastSeed) =>
        TestImages.Write(_dir.File(name), Enumerable.Range(firstSeed, lastSeed - firstSeed + 1).Select(s => (int?)s).ToList());

    private BlockIndex Indexed(bool uring, bool direct, params string[] images)
    {
        var index = BlockIndex.Open(_dir.File("index"));
        index.BatchMode = uring ? BatchReadMode.Uring : BatchReadMode.Pread;
        index.ReadEntriesDirect = direct;
        index.Update(images);
        return index;
    }

    private static int[] Seeds(int first, int last) => Enumerable.Range(first, last - first + 1).ToArray();

    private static FingerprintPrefix Prefix(int seed) => FingerprintPrefix.Of(TestImages.FingerprintOf(seed));

    private static (Result Entries, Result Predicted) Compare(BlockIndex index, IReadOnlyList<int> seeds) =>
        Compare(index, seeds.Select(Prefix).ToList());

    // The entry path alone, then with prediction (the table evicted before each): the same answers, block for block.
    private static (Result Entries, Result Predicted) Compare(BlockIndex index, IReadOnlyList<FingerprintPrefix> prefixes)
    {
        var entries = Run(index, prefixes, predict: false);
        var predicted = Run(index, prefixes, predict: true);
        Assert.Equal(entries.Count, predicted.Count);
        Assert.Equal(entries.Hits, predicted.Hits);
        Assert.Equal(entries.Found, predicted.Found);
        Assert.Equal(entries.Blocks, predicted.Blocks);
        Assert.Equal(0, entries.Predicted);
        return (entries, predicted);
    }

    private static Result Run(BlockIndex index, IReadOnlyList<FingerprintPrefix> prefixes, bool predict)
    {
        index.PredictsLocality = predict;
        index.DropTablePages();
        long predictedBefore = index.PredictedHits, directBefore = index.EntriesReadDirect;
        var (blocks, hits, found, count) = BatchLookupTests.Run(index, prefixes);
        return new Result(blocks, hits, found, count, index.PredictedHits - predictedBefore, index.EntriesReadDirect - directBefore);
    }

    private sealed record Result(byte[] Blocks, bool[] Hits, Fingerprint[] Found, int Count, long Predicted, long ReadDirect);
}
