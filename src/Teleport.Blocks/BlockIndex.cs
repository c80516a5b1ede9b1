using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Teleport.Blocks;

/// <summary>
/// Persistent content index over local images: fingerprint key -> (image, block number). One 24-byte entry per
/// distinct non-zero content (128-bit key + packed location); zero blocks are never indexed.
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
public sealed class BlockIndex : IDisposable
{
    private const int WorkItemBytes = 32 << 20;
    private const int MaxCandidates = 2; // the main table's entry and an unsaved received block's
    private const int MinDeltaLimit = 1 << 16;

    private readonly string _filePath;
    private readonly Func<Fingerprint, IndexKey> _keyOf;
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly Lock _updateGate = new();
    private readonly Dictionary<string, ImageRecord> _byPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ImageRecord> _addAliases = new(StringComparer.Ordinal); // paths as given to Add
    private ImageRecord?[] _images = [null]; // by id; slot 0 unused
    private EntryTable _table = EntryTable.Empty;
    private readonly Dictionary<IndexKey, ulong> _delta = new(); // received blocks not yet merged into _table
    private long _hits, _misses, _stale;
    private const int MaxStaleSeen = 1 << 16;
    private readonly ConcurrentDictionary<IndexKey, ulong> _staleSeen = new(); // entries a lookup found stale, dropped at save
    private bool _disposed;

    private BlockIndex(string directory, int blockSize, Func<Fingerprint, IndexKey> keyOf)
    {
        Directory = directory;
        BlockSize = blockSize;
        _keyOf = keyOf;
        _filePath = IndexFile.PathFor(directory, blockSize);
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
            var contents = IndexFile.Read(index._filePath, blockSize);
            foreach (var image in contents.Images)
                index.Register(image);
            index._table = new EntryTable(contents.Entries);
        }
        return index;
    }

    /// <summary>Deletes the index file for <paramref name="blockSize"/> (to rebuild after corruption).</summary>
    public static void Reset(string directory, int blockSize = BlockSizes.Default)
    {
        BlockSizes.Validate(blockSize);
        var path = IndexFile.PathFor(Path.GetFullPath(directory), blockSize);
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
            _lock.EnterReadLock();
            try
            {
                long blocks = 0, zero = 0, nonZero = 0;
                int count = 0;
                foreach (var image in _images)
                {
                    if (image is null)
                        continue;
                    count++;
                    blocks += image.Blocks;
                    zero += image.ZeroBlocks;
                    nonZero += image.NonZeroBlocks;
                }
                long fileBytes = File.Exists(_filePath) ? new FileInfo(_filePath).Length : 0;
                // A dictionary entry costs about 40 bytes (key, value, hash, next); it is merged away at save.
                long memory = _table.MemoryBytes + _delta.Count * 40L;
                return new IndexStats(BlockSize, count, blocks, zero, nonZero, _table.Count + _delta.Count, memory, fileBytes,
                    Interlocked.Read(ref _hits), Interlocked.Read(ref _misses), Interlocked.Read(ref _stale));
            }
            finally
            {
                _lock.ExitReadLock();
            }
        }
    }

    /// <summary>The images the index covers.</summary>
    public IReadOnlyList<IndexedImage> Images
    {
        get
        {
            _lock.EnterReadLock();
            try
            {
                return _images.Where(i => i is not null).Select(i => i!.ToPublic()).ToList();
            }
            finally
            {
                _lock.ExitReadLock();
            }
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
        var requested = new Dictionary<string, ImageIdentity>(StringComparer.Ordinal);
        foreach (string imagePath in imagePaths)
        {
            string full = Path.GetFullPath(imagePath);
            if (System.IO.Directory.Exists(full))
                throw new ArgumentException($"'{full}' is a directory; give image files or block devices.", nameof(imagePaths));
            requested[full] = NativeFile.Stat(full)
                ?? throw new FileNotFoundException($"Image '{full}' does not exist.", full);
        }

        lock (_updateGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var (jobs, skipped, removedImages, entriesRemoved) = Plan(requested);
            try
            {
                var scan = ScanImages(jobs, ct);
                _lock.EnterWriteLock();
                try
                {
                    var shared = new long[_images.Length];
                    for (int id = 0; id < scan.SharedByImage.Length; id++)
                        shared[id] = scan.SharedByImage[id];
                    _table = _table.Merge(scan.Runs, shared, out long added);
                    foreach (var job in jobs)
                    {
                        var image = job.Image;
                        image.Blocks = job.Scanner.BlockCount;
                        image.ZeroBlocks = job.ZeroBlocks;
                        image.NonZeroBlocks = job.Scanner.BlockCount - job.ZeroBlocks;
                        image.SharedBlocks = shared[image.Id];
                        image.Identity = job.Identity;
                    }
                    return new IndexBuildReport(jobs.Count, skipped, removedImages, scan.Blocks, scan.ZeroBlocks, scan.BytesRead,
                        added, entriesRemoved, clock.Elapsed, jobs.Select(j => j.Image.Path).ToList());
                }
                finally
                {
                    _lock.ExitWriteLock();
                }
            }
            finally
            {
                foreach (var job in jobs)
                    job.Scanner.Dispose();
            }
        }
    }

    /// <summary>The locations that may hold the block of <paramref name="key"/> (table and received entries), and the images they point into.</summary>
    private int Candidates(IndexKey key, Span<ulong> locations, out ImageRecord?[] images)
    {
        int count = 0;
        _lock.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int at = _table.Find(key);
            if (at >= 0)
                locations[count++] = _table[at].Location;
            if (_delta.TryGetValue(key, out ulong received))
                locations[count++] = received;
            images = _images;
        }
        finally
        {
            _lock.ExitReadLock();
        }

        return count;
    }

    /// <summary>
    /// True when the index has an entry for <paramref name="fingerprint"/>'s key: a read might find the block. False
    /// means no read can (the block must come from elsewhere). Memory only, no I/O. Thread-safe.
    /// </summary>
    public bool MayContain(in Fingerprint fingerprint)
    {
        Span<ulong> locations = stackalloc ulong[MaxCandidates];
        return Candidates(_keyOf(fingerprint), locations, out _) > 0;
    }

    /// <summary>
    /// Looks <paramref name="fingerprint"/> up and, for each candidate entry, reads the local block into
    /// <paramref name="block"/> (exactly <see cref="BlockSize"/> bytes) and checks its full fingerprint. True only
    /// when a block matched; on false, <paramref name="block"/> is cleared. Thread-safe.
    /// </summary>
    public bool TryReadVerified(in Fingerprint fingerprint, Span<byte> block)
    {
        if (block.Length != BlockSize)
            throw new ArgumentException($"The block buffer must be {BlockSize} bytes; got {block.Length}.", nameof(block));
        var key = _keyOf(fingerprint);
        Span<ulong> locations = stackalloc ulong[MaxCandidates];
        int count = Candidates(key, locations, out var images);

        for (int i = 0; i < count; i++)
        {
            var entry = new IndexEntry { Location = locations[i] };
            var image = entry.ImageId < images.Length ? images[entry.ImageId] : null;
            if (image is not null && image.TryRead(entry.Block, block) && Fingerprint.Compute(block) == fingerprint)
            {
                Interlocked.Increment(ref _hits);
                return true;
            }
            Interlocked.Increment(ref _stale);
            // The block there was rewritten (or the image shrank): the entry is dropped at the next save if still stale.
            if (_staleSeen.Count < MaxStaleSeen)
                _staleSeen[key] = locations[i];
        }
        block.Clear();
        Interlocked.Increment(ref _misses);
        return false;
    }

    /// <summary>
    /// Records that block <paramref name="blockNumber"/> of <paramref name="imagePath"/> now holds content with
    /// <paramref name="fingerprint"/> (a block received during a migration). The image is registered on first
    /// use; its identity is taken at <see cref="Save"/>. Content already indexed elsewhere is not added again.
    /// </summary>
    public void Add(in Fingerprint fingerprint, string imagePath, long blockNumber)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        if (blockNumber < 0 || blockNumber > IndexEntry.MaxBlock)
            throw new ArgumentOutOfRangeException(nameof(blockNumber), $"Block number {blockNumber} is outside 0..{IndexEntry.MaxBlock}.");
        var key = _keyOf(fingerprint);
        _lock.EnterWriteLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var image = ImageForAdd(imagePath);
            image.Live = true;
            int existing = _table.Find(key);
            if (existing >= 0 || _delta.ContainsKey(key))
            {
                int owner = existing >= 0 ? _table[existing].ImageId : new IndexEntry { Location = _delta[key] }.ImageId;
                if (owner != image.Id)
                    image.SharedBlocks++;
                return;
            }
            _delta[key] = IndexEntry.Pack(image.Id, blockNumber);
            image.NonZeroBlocks++;
            if (_delta.Count >= Math.Max(MinDeltaLimit, _table.Count / 8))
                MergeDelta();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
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
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        if (blockNumber < 0 || blockNumber > IndexEntry.MaxBlock)
            throw new ArgumentOutOfRangeException(nameof(blockNumber), $"Block number {blockNumber} is outside 0..{IndexEntry.MaxBlock}.");
        var key = _keyOf(fingerprint);
        Span<ulong> locations = stackalloc ulong[MaxCandidates];
        int count = Candidates(key, locations, out var images);

        // Verified outside the lock: reading a block must not hold up lookups.
        int holder = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            for (int i = 0; i < count && holder == 0; i++)
            {
                var entry = new IndexEntry { Location = locations[i] };
                var image = entry.ImageId < images.Length ? images[entry.ImageId] : null;
                if (image is not null && image.TryRead(entry.Block, buffer.AsSpan(0, BlockSize)) && Fingerprint.Compute(buffer.AsSpan(0, BlockSize)) == fingerprint)
                    holder = entry.ImageId;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _lock.EnterWriteLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var image = ImageForAdd(imagePath);
            image.Live = true;
            if (holder != 0)
            {
                // The content is still where the index says (possibly this very block): nothing to change.
                if (holder != image.Id)
                    image.SharedBlocks++;
                return;
            }
            ulong here = IndexEntry.Pack(image.Id, blockNumber);
            int at = _table.Find(key);
            if (at >= 0)
            {
                _table.SetLocation(at, here);
                _delta.Remove(key);
            }
            else
            {
                if (!_delta.ContainsKey(key))
                    image.NonZeroBlocks++;
                _delta[key] = here;
                if (_delta.Count >= Math.Max(MinDeltaLimit, _table.Count / 8))
                    MergeDelta();
            }
            _staleSeen.TryRemove(key, out _);
        }
        finally
        {
            _lock.ExitWriteLock();
        }
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
            _lock.EnterWriteLock();
            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (!_byPath.TryGetValue(full, out var image))
                    return false;
                var removed = new bool[_images.Length];
                removed[image.Id] = true;
                _table = _table.WithoutImages(removed, out long entriesRemoved);
                foreach (var (key, location) in _delta.ToList())
                {
                    if (new IndexEntry { Location = location }.ImageId == image.Id)
                    {
                        _delta.Remove(key);
                        entriesRemoved++;
                    }
                }
                Unregister(image);
                if (entriesRemoved > 0)
                {
                    foreach (var other in _images)
                    {
                        if (other is { SharedBlocks: > 0, Live: false })
                            other.Identity = null; // coverage of its shared blocks went with the removed entries
                    }
                }
                return true;
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
    }

    /// <summary>Writes the index atomically (temporary file, then rename).</summary>
    public void Save()
    {
        lock (_updateGate)
        {
            EntryTable table;
            List<ImageRecord> images;
            _lock.EnterWriteLock();
            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                MergeDelta();
                DropStale();
                foreach (var image in _images)
                {
                    if (image is { Live: true })
                    {
                        image.Identity = NativeFile.Stat(image.Path);
                        image.Live = false;
                    }
                }
                table = _table;
                // Copies: the writer must not see counters change under it.
                images = _images.Where(i => i is not null).Select(i => Copy(i!)).ToList();
            }
            finally
            {
                _lock.ExitWriteLock();
            }
            IndexFile.Write(_filePath, BlockSize, images, table.Entries);
        }
    }

    public void Dispose()
    {
        lock (_updateGate)
        {
            _lock.EnterWriteLock();
            try
            {
                if (_disposed)
                    return;
                _disposed = true;
                foreach (var image in _images)
                    image?.Close();
            }
            finally
            {
                _lock.ExitWriteLock();
            }
        }
    }

    private sealed class ScanJob(ImageRecord image, ImageScanner scanner, ImageIdentity identity)
    {
        public ImageRecord Image { get; } = image;
        public ImageScanner Scanner { get; } = scanner;
        public ImageIdentity Identity { get; } = identity;
        public long ZeroBlocks;
    }

    private sealed record ScanResult(List<EntryRun> Runs, long[] SharedByImage, long Blocks, long ZeroBlocks, long BytesRead);

    // Decides what to read and drops entries of changed and deleted images, under the write lock.
    private (List<ScanJob> Jobs, int Skipped, int Removed, long EntriesRemoved) Plan(Dictionary<string, ImageIdentity> requested)
    {
        var toScan = new List<(ImageRecord Image, ImageIdentity Identity)>();
        int skipped = 0, removedImages = 0;
        long entriesRemoved = 0;
        _lock.EnterWriteLock();
        try
        {
            var invalid = new bool[_images.Length];
            bool anyInvalid = false;
            foreach (var image in _images)
            {
                if (image is null)
                    continue;
                if (image.Live)
                {
                    // Still receiving blocks: its stamps move with every write, so it is taken as is until saved.
                    if (requested.ContainsKey(image.Path))
                        skipped++;
                    continue;
                }
                var current = requested.TryGetValue(image.Path, out var given) ? given : NativeFile.Stat(image.Path);
                if (current is null)
                {
                    invalid[image.Id] = anyInvalid = true;
                    Unregister(image);
                    removedImages++;
                }
                else if (image.Identity != current || current.Value.IsBlockDevice)
                {
                    invalid[image.Id] = anyInvalid = true;
                    image.Identity = null; // until the re-scan completes
                    image.ResetHandle();
                    toScan.Add((image, current.Value));
                }
                else if (requested.ContainsKey(image.Path))
                {
                    skipped++;
                }
            }
            foreach (var (path, identity) in requested)
            {
                if (!_byPath.ContainsKey(path))
                    toScan.Add((Register(new ImageRecord(NextImageId(), path)), identity));
            }
            if (anyInvalid)
            {
                _table = _table.WithoutImages(invalid, out entriesRemoved);
                foreach (var (key, location) in _delta.ToList())
                {
                    if (invalid[new IndexEntry { Location = location }.ImageId])
                    {
                        _delta.Remove(key);
                        entriesRemoved++;
                    }
                }
                // Images whose shared content was indexed under a removed entry lose coverage: read them again.
                if (entriesRemoved > 0)
                {
                    foreach (var image in _images)
                    {
                        if (image is { SharedBlocks: > 0, Live: false, Identity: { } identity } && !toScan.Any(s => s.Image == image))
                        {
                            image.Identity = null; // if this update fails, the next one still re-reads it
                            toScan.Add((image, identity));
                        }
                    }
                }
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }

        var jobs = new List<ScanJob>(toScan.Count);
        try
        {
            foreach (var (image, identity) in toScan)
            {
                ImageScanner scanner;
                try
                {
                    scanner = ImageScanner.Open(image.Path, BlockSize);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new IOException($"Cannot read image '{image.Path}': {e.Message}", e);
                }
                jobs.Add(new ScanJob(image, scanner, identity));
                if (scanner.BlockCount > IndexEntry.MaxBlock + 1)
                    throw new ArgumentException($"Image '{image.Path}' has {scanner.BlockCount} blocks; the index holds at most {IndexEntry.MaxBlock + 1} per image.");
            }
        }
        catch
        {
            foreach (var job in jobs)
                job.Scanner.Dispose();
            throw;
        }
        return (jobs, skipped, removedImages, entriesRemoved);
    }

    // Reads all jobs in ranges on MaxParallelism workers; each worker returns one sorted, de-duplicated run.
    private ScanResult ScanImages(List<ScanJob> jobs, CancellationToken ct)
    {
        var items = new List<(ScanJob Job, long First, long Count)>();
        long itemBlocks = Math.Max(1, WorkItemBytes / BlockSize);
        foreach (var job in jobs)
            for (long first = 0; first < job.Scanner.BlockCount; first += itemBlocks)
                items.Add((job, first, Math.Min(itemBlocks, job.Scanner.BlockCount - first)));

        int workers = Math.Max(1, Math.Min(MaxParallelism, items.Count));
        var runs = new EntryRun[workers];
        var shared = new long[workers][];
        int idLimit = jobs.Count == 0 ? 1 : jobs.Max(j => j.Image.Id) + 1;
        long blocks = 0, zeroBlocks = 0;
        int nextItem = -1;
        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, worker =>
            {
                var buffer = new IndexEntry[1024];
                int count = 0;
                int item;
                while ((item = Interlocked.Increment(ref nextItem)) < items.Count)
                {
                    ct.ThrowIfCancellationRequested();
                    var (job, first, length) = items[item];
                    int imageId = job.Image.Id;
                    long zero = 0;
                    foreach (var scanned in job.Scanner.Blocks(first, length))
                    {
                        if (scanned.IsZero)
                        {
                            zero++;
                            continue;
                        }
                        if (count == buffer.Length)
                            Array.Resize(ref buffer, checked(buffer.Length * 2));
                        buffer[count++] = new IndexEntry(_keyOf(scanned.Fingerprint), imageId, scanned.Number);
                    }
                    Interlocked.Add(ref job.ZeroBlocks, zero);
                    Interlocked.Add(ref zeroBlocks, zero);
                    Interlocked.Add(ref blocks, length);
                }
                shared[worker] = new long[idLimit];
                runs[worker] = EntryTable.SortAndDeduplicate(buffer, count, shared[worker]);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        long bytesRead = jobs.Sum(j => j.Scanner.BytesRead);
        var sharedByImage = new long[idLimit];
        foreach (var counts in shared)
            for (int id = 0; id < idLimit; id++)
                sharedByImage[id] += counts[id];
        return new ScanResult([.. runs], sharedByImage, blocks, zeroBlocks, bytesRead);
    }

    // Caller holds the write lock. Called per block: the path as given maps straight to its record, no path allocation.
    private ImageRecord ImageForAdd(string imagePath)
    {
        if (!_addAliases.TryGetValue(imagePath, out var image))
        {
            string full = Path.GetFullPath(imagePath);
            if (!_byPath.TryGetValue(full, out image))
            {
                if (NativeFile.Stat(full) is null)
                    throw new FileNotFoundException($"Image '{full}' does not exist.", full);
                image = Register(new ImageRecord(NextImageId(), full));
            }
            _addAliases[imagePath] = image;
        }
        return image;
    }

    // Caller holds the write lock: drops the entries lookups found stale that are still stale (read again to be sure).
    private void DropStale()
    {
        if (_staleSeen.IsEmpty)
            return;
        var drop = new HashSet<IndexKey>();
        var buffer = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            foreach (var (key, location) in _staleSeen)
            {
                int at = _table.Find(key);
                if (at < 0 || _table[at].Location != location)
                    continue;
                var entry = new IndexEntry { Location = location };
                var image = entry.ImageId < _images.Length ? _images[entry.ImageId] : null;
                var block = buffer.AsSpan(0, BlockSize);
                if (image is not null && image.TryRead(entry.Block, block) && _keyOf(Fingerprint.Compute(block)) == key)
                    continue;
                drop.Add(key);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _staleSeen.Clear();
        if (drop.Count > 0)
            _table = _table.WithoutKeys(drop);
    }

    // Caller holds the write lock.
    private void MergeDelta()
    {
        if (_delta.Count == 0)
            return;
        var entries = new IndexEntry[_delta.Count];
        int n = 0;
        foreach (var (key, location) in _delta)
            entries[n++] = new IndexEntry { KeyHigh = key.High, KeyLow = key.Low, Location = location };
        var run = EntryTable.SortAndDeduplicate(entries, n, sharedByImage: null);
        var shared = new long[_images.Length];
        _table = _table.Merge([run], shared, out _);
        for (int id = 1; id < shared.Length; id++)
            if (shared[id] > 0 && _images[id] is { } image)
                image.SharedBlocks += shared[id];
        _delta.Clear();
        _delta.TrimExcess();
    }

    private ImageRecord Register(ImageRecord image)
    {
        if (image.Id >= _images.Length)
        {
            var grown = new ImageRecord?[Math.Max(image.Id + 1, _images.Length * 2)];
            Array.Copy(_images, grown, _images.Length);
            _images = grown;
        }
        else
        {
            // Copy on write: lookups hold on to the array they captured.
            _images = (ImageRecord?[])_images.Clone();
        }
        _images[image.Id] = image;
        _byPath[image.Path] = image;
        return image;
    }

    private void Unregister(ImageRecord image)
    {
        _images = (ImageRecord?[])_images.Clone();
        _images[image.Id] = null;
        _byPath.Remove(image.Path);
        _addAliases.Clear();
        image.Close();
    }

    private int NextImageId()
    {
        for (int id = 1; id < _images.Length; id++)
            if (_images[id] is null)
                return id;
        if (_images.Length > IndexEntry.MaxImageId)
            throw new InvalidOperationException($"The index already covers {IndexEntry.MaxImageId} images, its maximum.");
        return _images.Length;
    }

    private static ImageRecord Copy(ImageRecord image) => new(image.Id, image.Path)
    {
        Identity = image.Identity,
        Blocks = image.Blocks,
        ZeroBlocks = image.ZeroBlocks,
        NonZeroBlocks = image.NonZeroBlocks,
        SharedBlocks = image.SharedBlocks,
    };
}
