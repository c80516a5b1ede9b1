namespace Teleport.Blocks;

/// <summary>
/// The index's main store: entries sorted by key in one exact-size array (24 bytes per entry), plus a directory of
/// 65,537 offsets by the key's top 16 bits so a lookup binary-searches only its bucket. Immutable: every change
/// builds a new table, so readers never see a half-written array.
/// </summary>
internal sealed class EntryTable
{
    private const int DirectoryBits = 16;

    public static readonly EntryTable Empty = new([]);

    private readonly IndexEntry[] _entries;
    private readonly int[] _directory;

    /// <summary>Takes ownership of <paramref name="sortedEntries"/> (sorted, keys unique).</summary>
    public EntryTable(IndexEntry[] sortedEntries)
    {
        _entries = sortedEntries;
        _directory = new int[(1 << DirectoryBits) + 1];
        int bucket = 0;
        for (int i = 0; i < sortedEntries.Length; i++)
        {
            int b = Bucket(sortedEntries[i].KeyHigh);
            while (bucket <= b)
                _directory[bucket++] = i;
        }
        while (bucket < _directory.Length)
            _directory[bucket++] = sortedEntries.Length;
    }

    public int Count => _entries.Length;

    public ReadOnlySpan<IndexEntry> Entries => _entries;

    /// <summary>Memory held, in bytes.</summary>
    public long MemoryBytes => (long)_entries.Length * IndexEntry.Size + (long)_directory.Length * sizeof(int);

    /// <summary>Index of the entry with <paramref name="key"/>, or -1.</summary>
    public int Find(IndexKey key)
    {
        int bucket = Bucket(key.High);
        int lo = _directory[bucket], hi = _directory[bucket + 1] - 1;
        while (lo <= hi)
        {
            int mid = (int)((uint)(lo + hi) >> 1);
            ref readonly var e = ref _entries[mid];
            int c = e.KeyHigh != key.High ? e.KeyHigh.CompareTo(key.High) : e.KeyLow.CompareTo(key.Low);
            if (c == 0)
                return mid;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return -1;
    }

    public ref readonly IndexEntry this[int index] => ref _entries[index];

    /// <summary>
    /// Points the entry at <paramref name="index"/> to another block with the same content (its old block was
    /// rewritten). The key, and so the order, is unchanged; the 8-byte write is atomic, so a concurrent reader sees
    /// either location, and lookups verify what they read.
    /// </summary>
    public void SetLocation(int index, ulong location) => Volatile.Write(ref _entries[index].Location, location);

    /// <summary>The table without the entries whose key is in <paramref name="keys"/>.</summary>
    public EntryTable WithoutKeys(IReadOnlySet<IndexKey> keys)
    {
        var kept = new List<IndexEntry>(_entries.Length);
        foreach (ref readonly var e in _entries.AsSpan())
            if (!keys.Contains(new IndexKey(e.KeyHigh, e.KeyLow)))
                kept.Add(e);
        return kept.Count == _entries.Length ? this : new EntryTable([.. kept]);
    }

    /// <summary>The table without entries of the images flagged in <paramref name="removedImages"/>.</summary>
    public EntryTable WithoutImages(bool[] removedImages, out long removed)
    {
        long keep = 0;
        foreach (ref readonly var e in _entries.AsSpan())
            if (!IsRemoved(removedImages, e.ImageId))
                keep++;
        removed = _entries.Length - keep;
        if (removed == 0)
            return this;
        var kept = new IndexEntry[keep];
        int n = 0;
        foreach (ref readonly var e in _entries.AsSpan())
            if (!IsRemoved(removedImages, e.ImageId))
                kept[n++] = e;
        return new EntryTable(kept);
    }

    /// <summary>
    /// Merges sorted runs into this table. One entry per key survives: an existing entry wins over new ones.
    /// Each dropped entry whose image differs from the kept one's counts in <paramref name="sharedByImage"/>[image],
    /// so that image is re-read (to restore coverage) if the kept entry's image later goes away.
    /// </summary>
    public EntryTable Merge(IReadOnlyList<EntryRun> runs, long[] sharedByImage, out long added)
    {
        var pending = new List<EntryRun>(runs.Count);
        foreach (var run in runs)
            if (run.Count > 0)
                pending.Add(run);
        // Pairwise merging: log2(runs) passes, each linear.
        while (pending.Count > 1)
        {
            var next = new List<EntryRun>((pending.Count + 1) / 2);
            for (int i = 0; i + 1 < pending.Count; i += 2)
                next.Add(MergeTwo(pending[i], pending[i + 1], sharedByImage));
            if (pending.Count % 2 == 1)
                next.Add(pending[^1]);
            pending = next;
        }
        if (pending.Count == 0)
        {
            added = 0;
            return this;
        }
        var existing = new EntryRun(_entries, _entries.Length);
        // Sized exactly up front: the table is the big array, so it is neither over-allocated nor copied twice.
        var merged = MergeTwo(existing, pending[0], sharedByImage, CountDistinct(existing, pending[0]));
        added = merged.Count - _entries.Length;
        return new EntryTable(merged.Entries);
    }

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

    // Keys in the union of two sorted runs whose keys are each unique.
    private static int CountDistinct(EntryRun a, EntryRun b)
    {
        int i = 0, j = 0, n = 0;
        while (i < a.Count && j < b.Count)
        {
            int c = a.Entries[i].CompareTo(b.Entries[j]);
            if (c <= 0)
                i++;
            if (c >= 0)
                j++;
            n++;
        }
        return n + (a.Count - i) + (b.Count - j);
    }

    private static EntryRun MergeTwo(EntryRun a, EntryRun b, long[] sharedByImage, int? exactCount = null)
    {
        var output = new IndexEntry[exactCount ?? a.Count + b.Count];
        int i = 0, j = 0, n = 0;
        while (i < a.Count || j < b.Count)
        {
            // Ties take `a` first, so existing entries win over new ones.
            bool takeA = j >= b.Count || (i < a.Count && a.Entries[i].CompareTo(b.Entries[j]) <= 0);
            ref readonly var e = ref takeA ? ref a.Entries[i++] : ref b.Entries[j++];
            if (n > 0 && output[n - 1].SameKey(e))
            {
                CountShared(sharedByImage, output[n - 1], e);
                continue;
            }
            output[n++] = e;
        }
        return new EntryRun(output, n);
    }

    private static void CountShared(long[]? sharedByImage, in IndexEntry kept, in IndexEntry dropped)
    {
        if (sharedByImage is not null && kept.ImageId != dropped.ImageId && dropped.ImageId < sharedByImage.Length)
            sharedByImage[dropped.ImageId]++;
    }

    private static bool IsRemoved(bool[] removedImages, int imageId) =>
        imageId < removedImages.Length && removedImages[imageId];

    private static int Bucket(ulong keyHigh) => (int)(keyHigh >> (64 - DirectoryBits));
}
