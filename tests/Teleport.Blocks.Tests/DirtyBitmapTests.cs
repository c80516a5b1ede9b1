namespace Teleport.Blocks.Tests;

public class DirtyBitmapTests
{
    [Fact]
    public void Set_test_and_clear_report_the_previous_state()
    {
        var bitmap = new DirtyBitmap(130, 4096);
        Assert.True(bitmap.Set(129));
        Assert.False(bitmap.Set(129));
        Assert.True(bitmap.Test(129));
        Assert.False(bitmap.Test(128));
        Assert.Equal(1, bitmap.DirtyCount);
        Assert.True(bitmap.TestAndClear(129));
        Assert.False(bitmap.TestAndClear(129));
        Assert.Equal(0, bitmap.DirtyCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.Set(130));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.Test(-1));
    }

    [Fact]
    public void SetAll_covers_exactly_the_volume_and_ClearAll_empties_it()
    {
        var bitmap = new DirtyBitmap(200, 512);
        bitmap.SetAll();
        Assert.Equal(200, bitmap.DirtyCount);
        Assert.Equal([new BlockRun(0, 200)], bitmap.Runs());
        bitmap.ClearAll();
        Assert.Equal(0, bitmap.DirtyCount);
        Assert.Empty(bitmap.Runs());
    }

    [Fact]
    public void Runs_and_TakeDirty_match_a_brute_force_reference_on_random_bitmaps()
    {
        var random = new Random(42);
        for (int round = 0; round < 200; round++)
        {
            int count = random.Next(0, 700);
            var bitmap = new DirtyBitmap(count, 4096);
            bool[] reference = new bool[count];
            double density = random.NextDouble();
            for (int i = 0; i < count; i++)
            {
                if (random.NextDouble() < density)
                {
                    reference[i] = true;
                    bitmap.Set(i);
                }
            }
            Assert.Equal(ReferenceRuns(reference, 0, count), bitmap.Runs().ToList());
            Assert.Equal(reference.Count(b => b), bitmap.DirtyCount);

            int first = count == 0 ? 0 : random.Next(0, count);
            int length = random.Next(0, count - first + 1);
            var taken = new List<BlockRun> { new(-10, 1) }; // TakeDirty appends: existing items stay
            long n = bitmap.TakeDirty(first, length, taken);
            var expected = ReferenceRuns(reference, first, length);
            Assert.Equal(expected, taken.Skip(1).ToList());
            Assert.Equal(expected.Sum(r => r.Count), n);
            for (int i = first; i < first + length; i++)
                reference[i] = false;
            Assert.Equal(ReferenceRuns(reference, 0, count), bitmap.Runs().ToList());
            Assert.Equal(reference.Count(b => b), bitmap.DirtyCount);
        }
    }

    [Fact]
    public void MarkDirty_ranges_across_word_boundaries()
    {
        var bitmap = new DirtyBitmap(1000, 4096);
        bitmap.MarkDirty(60, 10);
        bitmap.MarkDirty(64, 200);
        bitmap.MarkDirty(999, 1);
        bitmap.MarkDirty(500, 0);
        Assert.Equal([new BlockRun(60, 204), new BlockRun(999, 1)], bitmap.Runs());
        Assert.Equal(205, bitmap.DirtyCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirty(999, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirty(-1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.TakeDirty(0, 1001, []));
    }

    [Theory]
    [InlineData(0, 1, 0, 1)]          // first byte
    [InlineData(4095, 1, 0, 1)]       // last byte of block 0
    [InlineData(4095, 2, 0, 2)]       // straddles blocks 0 and 1
    [InlineData(4096, 4096, 1, 1)]    // exactly block 1
    [InlineData(4096, 4097, 1, 2)]    // one byte into block 2
    [InlineData(100, 40000, 0, 10)]   // bytes 100..40099 -> blocks 0..9
    [InlineData(40959, 1, 9, 1)]      // last byte of the volume
    public void MarkDirtyBytes_marks_every_touched_block(long offset, long length, long firstBlock, long blocks)
    {
        var bitmap = new DirtyBitmap(10, 4096);
        bitmap.MarkDirtyBytes(offset, length);
        Assert.Equal([new BlockRun(firstBlock, blocks)], bitmap.Runs());
    }

    [Fact]
    public void MarkDirtyBytes_ignores_empty_ranges_and_rejects_ranges_past_the_end()
    {
        var bitmap = new DirtyBitmap(10, 4096);
        bitmap.MarkDirtyBytes(5000, 0);
        Assert.Empty(bitmap.Runs());
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirtyBytes(40959, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirtyBytes(40960, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirtyBytes(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirtyBytes(0, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => bitmap.MarkDirtyBytes(long.MaxValue, 2));
        Assert.Empty(bitmap.Runs());
    }

    [Fact]
    public void ForVolume_counts_a_partial_final_block()
    {
        Assert.Equal(3, DirtyBitmap.ForVolume(2 * 4096 + 1, 4096).BlockCount);
        Assert.Equal(0, DirtyBitmap.ForVolume(0, 512).BlockCount);
    }

    [Fact]
    public void Rejects_bad_construction()
    {
        Assert.Throws<ArgumentException>(() => new DirtyBitmap(10, 1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DirtyBitmap(-1, 4096));
    }

    [Fact]
    public async Task No_write_is_lost_when_writers_race_a_taker()
    {
        const int blocks = 1 << 16;
        const int writers = 3;
        var bitmap = new DirtyBitmap(blocks, 4096);
        int[] takenCount = new int[blocks];
        int writersDone = 0;
        // Writers set interleaved blocks (so they share words) in shuffled order; each block is set once.
        var writerTasks = Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            int[] mine = Enumerable.Range(0, blocks).Where(b => b % writers == w).ToArray();
            new Random(w).Shuffle(mine);
            foreach (int block in mine)
                Assert.True(bitmap.Set(block));
            Interlocked.Increment(ref writersDone);
        })).ToArray();
        var taker = Task.Run(() =>
        {
            var runs = new List<BlockRun>();
            var random = new Random(7);
            while (Volatile.Read(ref writersDone) < writers)
            {
                runs.Clear();
                int first = random.Next(0, blocks);
                int length = random.Next(0, blocks - first + 1);
                long n = bitmap.TakeDirty(first, length, runs);
                Assert.Equal(n, runs.Sum(r => r.Count));
                foreach (var run in runs)
                    for (long b = run.Start; b < run.End; b++)
                        takenCount[b]++;
            }
        });
        await Task.WhenAll([.. writerTasks, taker]);

        for (int block = 0; block < blocks; block++)
        {
            int stillSet = bitmap.Test(block) ? 1 : 0;
            Assert.True(takenCount[block] + stillSet == 1,
                $"block {block}: taken {takenCount[block]} times, still set {stillSet}");
        }
        Assert.Equal(bitmap.Runs().Sum(r => r.Count), bitmap.DirtyCount);
    }

    [Fact]
    public void Implements_the_tracker_seam()
    {
        IDirtyTracker tracker = new DirtyBitmap(100, 65536);
        tracker.MarkDirty(10, 5);
        Assert.Equal(65536, tracker.BlockSize);
        Assert.Equal(100, tracker.BlockCount);
        Assert.Equal(5, tracker.DirtyCount);
        var runs = new List<BlockRun>();
        Assert.Equal(5, tracker.TakeDirty(0, 100, runs));
        Assert.Equal([new BlockRun(10, 5)], runs);
        Assert.Equal(0, tracker.DirtyCount);
    }

    private static List<BlockRun> ReferenceRuns(bool[] bits, int first, int length)
    {
        var runs = new List<BlockRun>();
        int i = first;
        while (i < first + length)
        {
            if (!bits[i])
            {
                i++;
                continue;
            }
            int start = i;
            while (i < first + length && bits[i])
                i++;
            runs.Add(new BlockRun(start, i - start));
        }
        return runs;
    }
}
