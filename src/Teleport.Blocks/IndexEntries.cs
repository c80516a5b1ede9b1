using System.Buffers;
using System.Collections.Concurrent;

namespace Teleport.Blocks;

/// <summary>
/// The index's entries: the sorted <see cref="EntryTable"/>, the received entries not merged into it yet (a
/// dictionary, so a block received during a migration does not rebuild the table), and the entries lookups found
/// stale. Changes are made under the index's write lock and <see cref="Candidates(IndexKey, Span{ulong})"/> under its read lock;
/// <see cref="NoteStale"/> may run at any time. A replaced table is released at once: readers use it only under the
/// read lock, a save only under <see cref="EntryTable.Borrow"/>.
/// </summary>
internal sealed class IndexEntries(ImageCatalog images, int blockSize, Func<Fingerprint, IndexKey> keyOf, string directory) : IDisposable
{
    /// <summary>Locations one key can have: the table's entry and an unsaved received block's.</summary>
    public const int MaxCandidates = 2;

    private const int MinReceivedLimit = 1 << 16;
    private const int MaxStaleSeen = 1 << 16;
    private const long ReceivedEntryBytes = 40; // a dictionary entry: key, value, hash, next
    // Received entries are merged (the table rewritten) once they reach 1/32 of the table: at 40 B each that keeps
    // them under 1.25 B per table entry, so the index stays under 4 B of memory per entry with the summary's 2.4 B.
    private const int ReceivedShare = 32;

    private readonly Dictionary<IndexKey, ulong> _received = new();
    private readonly ConcurrentDictionary<IndexKey, ulong> _staleSeen = new(); // dropped at save if still stale

    public EntryTable Table { get; private set; } = EntryTable.Empty(directory);

    public long Count => Table.Count + _received.Count;

    public long MemoryBytes => Table.MemoryBytes + _received.Count * ReceivedEntryBytes;

    /// <summary>Takes <paramref name="table"/> as the table (loaded from the index file).</summary>
    public void Load(EntryTable table) => Swap(table);

    public void Dispose() => Table.Dispose();

    /// <summary>The locations that may hold <paramref name="key"/>'s block: the table's entry first, then a received one.</summary>
    public int Candidates(IndexKey key, Span<ulong> locations) => Candidates(key, Table.LocationOf(key), locations);

    /// <summary>As the overload without it, with the table's location already read (0: none).</summary>
    public int Candidates(IndexKey key, ulong tableLocation, Span<ulong> locations)
    {
        int count = 0;
        if (tableLocation != 0)
            locations[count++] = tableLocation;
        if (_received.Count > 0 && _received.TryGetValue(key, out ulong received))
            locations[count++] = received;
        return count;
    }

    /// <summary>A lookup found that <paramref name="location"/> no longer holds <paramref name="key"/>'s content.</summary>
    public void NoteStale(IndexKey key, ulong location)
    {
        if (_staleSeen.Count < MaxStaleSeen)
            _staleSeen[key] = location;
    }

    /// <summary>
    /// Block <paramref name="blockNumber"/> of <paramref name="image"/> was received holding <paramref name="key"/>'s
    /// content. Content already indexed is not added again; it counts as shared when another image holds it.
    /// </summary>
    public void AddReceived(IndexKey key, ImageRecord image, long blockNumber)
    {
        Span<ulong> locations = stackalloc ulong[MaxCandidates];
        if (Candidates(key, locations) > 0)
        {
            if (IndexEntry.ImageIdOf(locations[0]) != image.Id)
                image.SharedBlocks++;
            return;
        }
        _received[key] = IndexEntry.Pack(image.Id, blockNumber);
        image.NonZeroBlocks++;
        MergeReceivedIfLarge();
    }

    /// <summary>
    /// Points <paramref name="key"/> at block <paramref name="blockNumber"/> of <paramref name="image"/>, which was
    /// rewritten to hold it: the table's entry is re-pointed in place, or else a received entry is kept.
    /// </summary>
    public void Repoint(IndexKey key, ImageRecord image, long blockNumber)
    {
        ulong here = IndexEntry.Pack(image.Id, blockNumber);
        int at = Table.Find(key, out _);
        if (at >= 0)
        {
            Table.SetLocation(at, here);
            _received.Remove(key);
        }
        else
        {
            if (!_received.ContainsKey(key))
                image.NonZeroBlocks++;
            _received[key] = here;
            MergeReceivedIfLarge();
        }
        _staleSeen.TryRemove(key, out _);
    }

    /// <summary>Merges the runs an update scanned; returns the entries added.</summary>
    public long MergeScanned(IReadOnlyList<EntryRun> runs, long[] sharedByImage)
    {
        Swap(Table.Merge(runs, sharedByImage, out long added));
        return added;
    }

    /// <summary>Drops every entry, merged or received, of the images flagged in <paramref name="removedImages"/>; returns how many.</summary>
    public long Purge(bool[] removedImages)
    {
        Swap(Table.WithoutImages(removedImages, out long removed));
        foreach (var (key, location) in _received)
        {
            int id = IndexEntry.ImageIdOf(location);
            if (id < removedImages.Length && removedImages[id])
            {
                _received.Remove(key); // removing while enumerating is allowed for Dictionary
                removed++;
            }
        }
        return removed;
    }

    /// <summary>Merges the received entries into the table (at save, or when they grow large).</summary>
    public void MergeReceived()
    {
        if (_received.Count == 0)
            return;
        var entries = new IndexEntry[_received.Count];
        int n = 0;
        foreach (var (key, location) in _received)
            entries[n++] = new IndexEntry { KeyHigh = key.High, KeyLow = key.Low, Location = location };
        var run = EntryTable.SortAndDeduplicate(entries, n, sharedByImage: null);
        var byId = images.ById;
        long[] shared = new long[byId.Length];
        Swap(Table.Merge([run], shared, out _));
        for (int id = 1; id < shared.Length; id++)
            if (shared[id] > 0 && byId[id] is { } image)
                image.SharedBlocks += shared[id];
        _received.Clear();
        _received.TrimExcess();
    }

    /// <summary>Drops the entries lookups found stale that are still stale: each is read again to be sure.</summary>
    public void DropStale()
    {
        if (_staleSeen.IsEmpty)
            return;
        var drop = new HashSet<IndexKey>();
        byte[] buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        try
        {
            foreach (var (key, location) in _staleSeen)
            {
                if (Table.Find(key, out ulong now) < 0 || now != location)
                    continue;
                // By key, not fingerprint: a colliding key's entry still holds its own content and stays.
                if (!ImageCatalog.TryFingerprint(images.ById, location, buffer.AsSpan(0, blockSize), out var content) || keyOf(content) != key)
                    drop.Add(key);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _staleSeen.Clear();
        if (drop.Count > 0)
            Swap(Table.WithoutKeys(drop));
    }

    private void MergeReceivedIfLarge()
    {
        if (_received.Count >= Math.Max(MinReceivedLimit, Table.Count / ReceivedShare))
            MergeReceived();
    }

    private void Swap(EntryTable next)
    {
        var previous = Table;
        Table = next;
        if (!ReferenceEquals(previous, next))
            previous.Dispose();
    }
}
