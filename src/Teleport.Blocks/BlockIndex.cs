using System.Buffers;
using System.Diagnostics;

namespace Teleport.Blocks;

/// <summary>
/// Persistent content index over local images: fingerprint key -> (image, block number). One 24-byte entry per
/// distinct non-zero content (128-bit key + packed location), kept on disk behind a summary of about 2.4 bytes of
/// memory per entry (<see cref="EntryTable"/>); zero blocks are never indexed.
/// <para>
/// A lookup is only a hit after the referenced local block has been read and its full SHA-256 matches, so a
/// stale entry (the image changed) or a colliding key is a miss, never wrong data.
/// </para>
/// <para>
/// Thread safety: lookups, <see cref="Add"/> and <see cref="Refresh"/> may run concurrently with each other and
/// with <see cref="Update"/> (which reads images without holding the lock and only locks to swap tables);
/// updates, removals and saves are serialised. One process should own an index directory at a time.
/// </para>
/// <para>
/// Served volumes change in place: <see cref="Refresh"/> re-points a block's content after a write and
/// <see cref="Remove"/> drops a deleted image, so the index follows without re-reading whole images.
/// </para>
/// </summary>
public sealed partial class BlockIndex : IDisposable
{
    private readonly string _filePath;
    private readonly Func<Fingerprint, IndexKey> _keyOf;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Lock _updateGate = new();
    private readonly ImageCatalog _images = new();
    private readonly IndexEntries _entries;
    private readonly VerifiedBatch.Pool _batches;
    private long _hits, _misses, _stale;
    private bool _disposed;

    private BlockIndex(string directory, int blockSize, Func<Fingerprint, IndexKey> keyOf)
    {
        Directory = directory;
        BlockSize = blockSize;
        _keyOf = keyOf;
        _filePath = IndexFile.PathFor(directory, blockSize);
        _entries = new IndexEntries(_images, blockSize, keyOf, directory);
        _batches = new VerifiedBatch.Pool(blockSize);
    }

    /// <summary>
    /// Opens the index for <paramref name="blockSize"/> in <paramref name="directory"/> (one file per block size),
    /// creating the directory and an empty index if absent. Throws <see cref="IndexCorruptException"/> on a bad file.
    /// </summary>
    public static BlockIndex Open(string directory, int blockSize = BlockSizes.Default) =>
        Open(directory, blockSize, fingerprint => IndexKey.Of(fingerprint));

    /// <summary>Test seam: <paramref name="keyOf"/> replaces the fingerprint -> key mapping to force collisions.</summary>
    internal static BlockIndex Open(string directory, int blockSize, Func<Fingerprint, IndexKey> keyOf)
    {
        BlockSizes.Validate(blockSize);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(directory);
        var index = new BlockIndex(directory, blockSize, keyOf);
        if (File.Exists(index._filePath))
        {
            var contents = IndexFile.Read(index._filePath, blockSize, directory);
            foreach (var image in contents.Images)
                index._images.Load(image);
            index._entries.Load(contents.Table);
        }
        return index;
    }

    /// <summary>Deletes the index file for <paramref name="blockSize"/> (to rebuild after corruption).</summary>
    public static void Reset(string directory, int blockSize = BlockSizes.Default)
    {
        BlockSizes.Validate(blockSize);
        string path = IndexFile.PathFor(Path.GetFullPath(directory), blockSize);
        if (File.Exists(path)) // a directory that does not exist yet has nothing to reset
            File.Delete(path);
    }

    public string Directory { get; }

    public int BlockSize { get; }

    /// <summary>The index file (it exists once saved).</summary>
    public string FilePath => _filePath;

    /// <summary>Worker threads for <see cref="Update"/>; all cores by default.</summary>
    public int MaxParallelism { get; set; } = Environment.ProcessorCount;

    public IndexStats Stats
    {
        get
        {
            using var locked = LockScope.Read(_lock);
            var (images, blocks, zero, nonZero) = _images.Totals();
            long fileBytes = File.Exists(_filePath) ? new FileInfo(_filePath).Length : 0;
            return new IndexStats(BlockSize, images, blocks, zero, nonZero, _entries.Count, _entries.MemoryBytes, fileBytes,
                Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Interlocked.Read(ref _stale));
        }
    }

    /// <summary>The images the index covers.</summary>
    public IReadOnlyList<IndexedImage> Images
    {
        get
        {
            using var locked = LockScope.Read(_lock);
            return _images.ById.Where(i => i is not null).Select(i => i!.ToPublic()).ToList();
        }
    }

    /// <summary>
    /// Brings the index up to date with <paramref name="imagePaths"/> and every image it already covers: new and
    /// changed images (size, mtime, ctime, inode, device) are read, unchanged ones skipped, deleted ones dropped.
    /// Block devices have no change stamp and are always re-read. Images are read in parallel, in ranges.
    /// If it throws (including on cancellation), images it did not finish are re-read by the next update.
    /// </summary>
    public IndexBuildReport Update(IReadOnlyList<string> imagePaths, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(imagePaths);
        var clock = Stopwatch.StartNew();
        var requested = Identify(imagePaths);
        lock (_updateGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            UpdatePlan plan;
            using (LockScope.Write(_lock))
                plan = UpdatePlan.Make(_images, _entries, requested);
            using var scan = ImageScan.Open(plan.ToScan, BlockSize, _keyOf);
            var result = scan.Run(MaxParallelism, ct);
            using (LockScope.Write(_lock))
            {
                long added = Apply(scan.Jobs, result);
                return new IndexBuildReport(scan.Jobs.Count, plan.Skipped, plan.Removed, result.Blocks, result.ZeroBlocks,
                    result.BytesRead, added, plan.EntriesRemoved, clock.Elapsed, scan.Jobs.Select(j => j.Image.Path).ToList());
            }
        }
    }

    /// <summary>
    /// True when the index has an entry for <paramref name="fingerprint"/>'s key: a read might find the block. False
    /// means no read can (the block must come from elsewhere). Memory only, no I/O. Thread-safe.
    /// </summary>
    public bool MayContain(in Fingerprint fingerprint) => MayContain(_keyOf(fingerprint));

    /// <summary>As <see cref="MayContain(in Fingerprint)"/>, for content known only by its 128-bit prefix.</summary>
    public bool MayContain(in FingerprintPrefix prefix) => MayContain(KeyOf(prefix));

    /// <summary>
    /// Looks <paramref name="fingerprint"/> up and, for each candidate entry, reads the local block into
    /// <paramref name="block"/> (exactly <see cref="BlockSize"/> bytes) and checks its full fingerprint. True only
    /// when a block matched; on false, <paramref name="block"/> is cleared. Thread-safe.
    /// </summary>
    public bool TryReadVerified(in Fingerprint fingerprint, Span<byte> block)
    {
        CheckBlockBuffer(block);
        return Lookup(_keyOf(fingerprint), fingerprint, block, out _);
    }

    /// <summary>
    /// Looks up content known only by its 128-bit <paramref name="prefix"/> (the index stream's entries): a candidate
    /// block is a hit when its own fingerprint starts with the prefix, and <paramref name="fingerprint"/> is then that
    /// full fingerprint (what the caller records; a prefix collision shows later as a different volume digest, never
    /// as a block the caller believes verified by more than its prefix). On false the block is cleared. Thread-safe.
    /// </summary>
    public bool TryReadVerified(in FingerprintPrefix prefix, Span<byte> block, out Fingerprint fingerprint)
    {
        CheckBlockBuffer(block);
        return Lookup(KeyOf(prefix), null, block, out fingerprint);
    }

    /// <summary>
    /// Records that block <paramref name="blockNumber"/> of <paramref name="imagePath"/> now holds content with
    /// <paramref name="fingerprint"/> (a block received during a migration). The image is registered on first
    /// use; its identity is taken at <see cref="Save"/>. Content already indexed elsewhere is not added again.
    /// </summary>
    public void Add(in Fingerprint fingerprint, string imagePath, long blockNumber)
    {
        CheckBlockArguments(imagePath, blockNumber);
        var key = _keyOf(fingerprint);
        using var locked = LockScope.Write(_lock);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var image = _images.ForReceived(imagePath);
        image.Live = true;
        _entries.AddReceived(key, image, blockNumber);
    }

    /// <summary>
    /// Block <paramref name="blockNumber"/> of <paramref name="imagePath"/> was rewritten in place and now holds
    /// <paramref name="fingerprint"/> (a write to a served volume). Unlike <see cref="Add"/>, an existing entry for the
    /// content is checked: if it no longer verifies (its block was rewritten too), the key is pointed here instead of
    /// keeping a dead entry. The entry of the block's previous content goes stale; lookups never return it (they
    /// verify) and the next <see cref="Save"/> drops stale entries lookups met. Zero blocks are not indexed: skip them.
    /// Thread-safe; the image is registered on first use and its identity taken at <see cref="Save"/>.
    /// </summary>
    public void Refresh(in Fingerprint fingerprint, string imagePath, long blockNumber)
    {
        CheckBlockArguments(imagePath, blockNumber);
        var key = _keyOf(fingerprint);
        int holder;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            holder = Holder(key, fingerprint, buffer.AsSpan(0, BlockSize), noteStale: false, out _);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        using var locked = LockScope.Write(_lock);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var image = _images.ForReceived(imagePath);
        image.Live = true;
        if (holder == 0)
            _entries.Repoint(key, image, blockNumber);
        else if (holder != image.Id)
            image.SharedBlocks++; // the content is still where the index says: only this copy is new
    }

    /// <summary>
    /// Drops <paramref name="imagePath"/> and its entries (a deleted volume). Images whose blocks were indexed under
    /// its entries are re-read by the next <see cref="Update"/>. False when the index did not cover it.
    /// </summary>
    public bool Remove(string imagePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        string full = Path.GetFullPath(imagePath);
        lock (_updateGate)
        {
            using var locked = LockScope.Write(_lock);
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_images.TryGet(full, out var image))
                return false;
            bool[] removed = new bool[_images.ById.Length];
            removed[image.Id] = true;
            long entriesRemoved = _entries.Purge(removed);
            _images.Remove(image);
            if (entriesRemoved > 0)
                _images.LoseSharedCoverage(); // the next update re-reads them: their identity is gone
            return true;
        }
    }

    /// <summary>Writes the index atomically (temporary file, then rename).</summary>
    public void Save()
    {
        lock (_updateGate)
        {
            EntryTable table;
            MappedEntries.Lease lease;
            List<ImageRecord> images;
            using (LockScope.Write(_lock))
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                _entries.MergeReceived();
                _entries.DropStale();
                _images.TakeLiveIdentities();
                table = _entries.Table;
                // The table may be replaced while it is written (a merge of received blocks): the lease keeps it mapped.
                lease = table.Borrow();
                // Copies: the writer must not see counters change under it.
                images = _images.Copies();
            }
            using (lease)
                IndexFile.Write(_filePath, BlockSize, images, table.Entries, SaveFault);
        }
    }

    /// <summary>Test seam: called after each chunk a save writes, with the bytes written so far (to inject a fault).</summary>
    internal Action<long>? SaveFault { get; set; }

    public void Dispose()
    {
        lock (_updateGate)
        {
            using var locked = LockScope.Write(_lock);
            if (_disposed)
                return;
            _disposed = true;
            _images.CloseAll();
            _entries.Dispose();
            _batches.Dispose();
        }
    }

    private static Dictionary<string, ImageIdentity> Identify(IReadOnlyList<string> imagePaths)
    {
        var requested = new Dictionary<string, ImageIdentity>(StringComparer.Ordinal);
        foreach (string imagePath in imagePaths)
        {
            string full = Path.GetFullPath(imagePath);
            if (System.IO.Directory.Exists(full))
                throw new ArgumentException($"'{full}' is a directory; give image files or block devices.", nameof(imagePaths));
            requested[full] = NativeFile.Stat(full)
                ?? throw new FileNotFoundException($"Image '{full}' does not exist.", full);
        }
        return requested;
    }

    private void CheckBlockBuffer(Span<byte> block)
    {
        if (block.Length != BlockSize)
            throw new ArgumentException($"The block buffer must be {BlockSize} bytes; got {block.Length}.", nameof(block));
    }

    private static void CheckBlockArguments(string imagePath, long blockNumber)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        if (blockNumber < 0 || blockNumber > IndexEntry.MaxBlock)
            throw new ArgumentOutOfRangeException(nameof(blockNumber), $"Block number {blockNumber} is outside 0..{IndexEntry.MaxBlock}.");
    }

    // Caller holds the write lock: merges what the scan found and records it on each image read.
    private long Apply(IReadOnlyList<ImageScan.Job> jobs, ImageScan.Result scan)
    {
        long[] shared = new long[_images.ById.Length];
        for (int id = 0; id < scan.SharedByImage.Length; id++)
            shared[id] = scan.SharedByImage[id];
        long added = _entries.MergeScanned(scan.Runs, shared);
        foreach (var job in jobs)
        {
            var image = job.Image;
            image.Blocks = job.Scanner.BlockCount;
            image.ZeroBlocks = job.ZeroBlocks;
            image.NonZeroBlocks = job.Scanner.BlockCount - job.ZeroBlocks;
            image.SharedBlocks = shared[image.Id];
            image.Identity = job.Identity;
        }
        return added;
    }

    // The key of content known by its prefix: the same bytes the index keys a full fingerprint by.
    private IndexKey KeyOf(in FingerprintPrefix prefix) => _keyOf(prefix.Padded());

    private bool MayContain(IndexKey key)
    {
        Span<ulong> locations = stackalloc ulong[IndexEntries.MaxCandidates];
        return Candidates(key, locations, out _) > 0;
    }

    // A counted lookup: a verified candidate (by full fingerprint, or by key when `full` is null) or a cleared block.
    private bool Lookup(IndexKey key, Fingerprint? full, Span<byte> block, out Fingerprint content)
    {
        if (Holder(key, full, block, noteStale: true, out content) != 0)
        {
            Interlocked.Increment(ref _hits);
            return true;
        }
        block.Clear();
        Interlocked.Increment(ref _misses);
        return false;
    }

    // The locations that may hold the block of `key`, and the images they point into as of now.
    private int Candidates(IndexKey key, Span<ulong> locations, out ImageRecord?[] images)
    {
        using var locked = LockScope.Read(_lock);
        ObjectDisposedException.ThrowIf(_disposed, this);
        images = _images.ById;
        return _entries.Candidates(key, locations);
    }

    // The one candidate verification: reads each candidate of `key` into `block` until one holds `full` (or, when only
    // a prefix is known, content of that key), and returns its image id (0 when none does) and the content's
    // fingerprint. Reads outside the lock: reading a block must not hold up lookups.
    private int Holder(IndexKey key, Fingerprint? full, Span<byte> block, bool noteStale, out Fingerprint content)
    {
        Span<ulong> locations = stackalloc ulong[IndexEntries.MaxCandidates];
        int count = Candidates(key, locations, out var images);
        content = default;
        for (int i = 0; i < count; i++)
        {
            if (ImageCatalog.TryFingerprint(images, locations[i], block, out content)
                && (full is { } expected ? content == expected : _keyOf(content) == key))
                return IndexEntry.ImageIdOf(locations[i]);
            if (noteStale)
            {
                // The block there was rewritten (or the image shrank): the entry is dropped at the next save if still stale.
                Interlocked.Increment(ref _stale);
                _entries.NoteStale(key, locations[i]);
            }
        }
        return 0;
    }
}
