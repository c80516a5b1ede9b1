namespace Teleport.Blocks;

/// <summary>
/// The index's main store: entries sorted by key (24 bytes each) in a mapped working file beside the index
/// (<see cref="MappedEntries"/>), found through a <see cref="KeySummary"/> in RAM of about 2.4 bytes per entry.
/// Immutable but for re-pointing: every other change streams a new table into a new file, so readers never see a
/// half-written one and an update never holds two copies of the table in memory.
/// </summary>
internal sealed class EntryTable : IDisposable
{
    private readonly string _directory;
    private readonly MappedEntries? _entries;
    private readonly KeySummary _summary;

    private EntryTable(string directory, MappedEntries? entries, KeySummary summary) =>
        (_directory, _entries, _summary) = (directory, entries, summary);

    /// <summary>A table with no entries, whose successors are written in <paramref name="directory"/>.</summary>
    public static EntryTable Empty(string directory)
    {
        var summary = new KeySummary(0);
        summary.Complete();
        return new EntryTable(directory, null, summary);
    }

    public int Count => _summary.Count;

    /// <summary>The entries, in key order; outside the index's lock only under <see cref="Borrow"/>.</summary>
    public ReadOnlySpan<IndexEntry> Entries => _entries is null ? [] : _entries.Span;

    /// <summary>Resident memory: the summary (the entries are mapped file pages the kernel may drop).</summary>
    public long MemoryBytes => _summary.MemoryBytes;

    /// <summary>
    /// Index of the entry with <paramref name="key"/> and its location, or -1. Reads only entries whose tag matches.
    /// </summary>
    public int Find(IndexKey key, out ulong location)
    {
        location = 0;
        if (_entries is null)
            return -1;
        var (at, end, tag) = _summary.Range(key.High);
        while ((at = _summary.NextMatch(at, end, tag)) >= 0)
        {
            var e = _entries.At(at);
            if (e.KeyHigh == key.High && e.KeyLow == key.Low)
            {
                location = e.Location;
                return at;
            }
            at++;
        }
        return -1;
    }

    /// <summary>The location of <paramref name="key"/>'s entry, read through the mapping; 0 (no location is) when none.</summary>
    public ulong LocationOf(IndexKey key) => Find(key, out ulong location) >= 0 ? location : 0;

    /// <summary>
    /// The indexes of the entries whose summary tag matches <paramref name="key"/> (its entry is one of them, if any),
    /// at most <paramref name="indexes"/>' length; -1 when there are more. Reads no entry.
    /// </summary>
    public int TagMatches(IndexKey key, Span<int> indexes)
    {
        if (_entries is null)
            return 0;
        var (at, end, tag) = _summary.Range(key.High);
        int count = 0;
        while ((at = _summary.NextMatch(at, end, tag)) >= 0)
        {
            if (count == indexes.Length)
                return -1;
            indexes[count++] = at++;
        }
        return count;
    }

    /// <summary>The working file for direct reads of entries, or null (no entries, or no direct I/O here).</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle? DirectHandle => _entries?.DirectHandle;

    /// <summary>Test and benchmark seam: writes the table's pages back and drops them from memory.</summary>
    public void DropResidentPages() => _entries?.DropResidentPages();

    /// <summary>
    /// Points the entry at <paramref name="index"/> to another block with the same content (its old block was
    /// rewritten). The key, and so the order, is unchanged; the 8-byte write is atomic, so a concurrent reader sees
    /// either location, and lookups verify what they read.
    /// </summary>
    public void SetLocation(int index, ulong location) => Volatile.Write(ref _entries!.Span[index].Location, location);

    /// <summary>Keeps the entries mapped while a save reads them outside the lock.</summary>
    public MappedEntries.Lease Borrow() => _entries?.Borrow() ?? default;

    /// <summary>The table without the entries whose key is in <paramref name="keys"/>.</summary>
    public EntryTable WithoutKeys(IReadOnlySet<IndexKey> keys) =>
        Filtered(e => !keys.Contains(new IndexKey(e.KeyHigh, e.KeyLow)), out _);

    /// <summary>The table without entries of the images flagged in <paramref name="removedImages"/>.</summary>
    public EntryTable WithoutImages(bool[] removedImages, out long removed) =>
        Filtered(e => !IsRemoved(removedImages, e.ImageId), out removed);

    /// <summary>
    /// Merges sorted runs into this table. One entry per key survives: an existing entry wins over new ones, and an
    /// earlier run over a later one. Each dropped entry whose image differs from the kept one's counts in
    /// <paramref name="sharedByImage"/>[image], so that image is re-read (to restore coverage) if the kept entry's
    /// image later goes away. The table and the runs are merged in one pass straight into the next table's file:
    /// no merged copy is ever held in memory.
    /// </summary>
    public EntryTable Merge(IReadOnlyList<EntryRun> runs, long[] sharedByImage, out long added)
    {
        var sources = new List<EntryRun>(runs.Count);
        foreach (var run in runs)
            if (run.Count > 0)
                sources.Add(run);
        if (sources.Count == 0)
        {
            added = 0;
            return this;
        }
        // Two passes over the same merge: the first counts the keys (the summary is sized up front), the second writes.
        using var walk = Borrow();
        long count = MergePass(sources, null, null);
        var builder = Build(_directory, count);
        MergePass(sources, builder, sharedByImage);
        var merged = builder.Complete();
        added = merged.Count - Count;
        return merged;
    }

    /// <summary>Streams sorted, unique entries into a new table in <paramref name="directory"/>.</summary>
    public static Builder Build(string directory, long count) => new(directory, count);

    /// <summary>Sorts a run and drops repeated keys in place.</summary>
    public static EntryRun SortAndDeduplicate(IndexEntry[] entries, int count, long[]? sharedByImage)
    {
        var span = entries.AsSpan(0, count);
        span.Sort();
        int n = 0;
        for (int i = 0; i < span.Length; i++)
        {
            if (n > 0 && span[n - 1].SameKey(span[i]))
            {
                CountShared(sharedByImage, span[n - 1], span[i]);
                continue;
            }
            span[n++] = span[i];
        }
        return new EntryRun(entries, n);
    }

    public void Dispose()
    {
        _entries?.Dispose();
        _summary.Dispose();
    }

    private EntryTable Filtered(Func<IndexEntry, bool> keep, out long removed)
    {
        using var walk = Borrow();
        var entries = Entries;
        long kept = 0;
        foreach (ref readonly var e in entries)
            if (keep(e))
                kept++;
        removed = entries.Length - kept;
        if (removed == 0)
            return this;
        var builder = Build(_directory, kept);
        foreach (ref readonly var e in Entries)
            if (keep(e))
                builder.Append(e);
        return builder.Complete();
    }

    // One k-way merge of this table (first) and the runs; returns the distinct keys, appending them when given a builder.
    private long MergePass(List<EntryRun> runs, Builder? builder, long[]? sharedByImage)
    {
        var existing = Entries;
        int[] next = new int[runs.Count];
        int i = 0;
        long written = 0;
        IndexEntry last = default;
        while (true)
        {
            // The smallest head; ties go to the table, then to the earliest run, so those win.
            int from = -1;
            bool have = i < existing.Length;
            var head = have ? existing[i] : default;
            for (int r = 0; r < runs.Count; r++)
            {
                if (next[r] >= runs[r].Count)
                    continue;
                ref readonly var e = ref runs[r].Entries[next[r]];
                if (!have || e.CompareTo(head) < 0)
                {
                    head = e;
                    from = r;
                    have = true;
                }
            }
            if (!have)
                return written;
            if (from == -1)
                i++;
            else
                next[from]++;
            if (written > 0 && last.SameKey(head))
            {
                CountShared(sharedByImage, last, head);
                continue;
            }
            builder?.Append(head);
            last = head;
            written++;
        }
    }

    private static void CountShared(long[]? sharedByImage, in IndexEntry kept, in IndexEntry dropped)
    {
        if (sharedByImage is not null && kept.ImageId != dropped.ImageId && dropped.ImageId < sharedByImage.Length)
            sharedByImage[dropped.ImageId]++;
    }

    private static bool IsRemoved(bool[] removedImages, int imageId) =>
        imageId < removedImages.Length && removedImages[imageId];

    /// <summary>Writes a table entry by entry (keys strictly ascending), then maps it.</summary>
    public sealed class Builder(string directory, long count) : IDisposable
    {
        private readonly KeySummary _summary = new(count);
        private readonly MappedEntries? _entries = count == 0 ? null : MappedEntries.Create(directory);
        private bool _completed;

        public void Append(in IndexEntry entry)
        {
            if (_summary.Count >= count)
                throw new InvalidOperationException($"The table was sized for {count} entries.");
            _summary.Append(entry.KeyHigh);
            _entries!.Append(entry);
        }

        public EntryTable Complete()
        {
            _summary.Complete();
            _entries?.Map();
            _completed = true;
            return new EntryTable(directory, _entries, _summary);
        }

        /// <summary>Drops the working file of a table not completed (a failed load).</summary>
        public void Dispose()
        {
            if (_completed)
                return;
            _entries?.Dispose();
            _summary.Dispose();
        }
    }
}
