namespace Teleport.Blocks;

// The batched verified lookup (a destination resolves its index stream a batch at a time): see VerifiedBatch.
public sealed partial class BlockIndex
{
    private long _batchResolved, _readDirect, _predicted;

    /// <summary>Lookups <see cref="ReadVerified"/> resolved itself, without the one-at-a-time lookup (tests, benchmarks).</summary>
    internal long BatchResolved => Interlocked.Read(ref _batchResolved);

    /// <summary>
    /// Looks up a batch of content known by prefix, each as <see cref="TryReadVerified(in FingerprintPrefix, Span{byte}, out Fingerprint)"/>
    /// does, with far fewer system calls: per 128 lookups the entries are found through the table's mapping (or read
    /// with one io_uring submission: <see cref="ReadEntriesDirect"/>) and then the blocks read with one submission (one
    /// pread each where io_uring is unavailable: <see cref="BatchReadMethod"/>). Slot i of
    /// <paramref name="blocks"/> (<see cref="BlockSize"/> bytes each) receives a hit's block and is cleared on a miss;
    /// <paramref name="hits"/>[i] and <paramref name="fingerprints"/>[i] are the single lookup's result and content.
    /// Returns the number of hits. Thread-safe.
    /// </summary>
    public int ReadVerified(ReadOnlySpan<FingerprintPrefix> prefixes, Span<byte> blocks, Span<bool> hits, Span<Fingerprint> fingerprints)
    {
        int n = prefixes.Length;
        if (blocks.Length != (long)n * BlockSize || hits.Length < n || fingerprints.Length < n)
            throw new ArgumentException($"{n} lookups need {(long)n * BlockSize} bytes of blocks and {n} results; got {blocks.Length} bytes, {hits.Length} and {fingerprints.Length}.");
        var batch = _batches.Rent();
        try
        {
            int found = 0;
            var locality = new Locality(PredictsLocality);
            for (int from = 0; from < n; from += batch.Capacity)
            {
                int count = Math.Min(batch.Capacity, n - from);
                found += ReadChunk(batch, prefixes.Slice(from, count), blocks.Slice(from * BlockSize, count * BlockSize),
                    hits.Slice(from, count), fingerprints.Slice(from, count), ref locality);
            }
            return found;
        }
        finally
        {
            _batches.Return(batch);
        }
    }

    /// <summary>
    /// Whether <see cref="ReadVerified"/> reads the table entries it needs with O_DIRECT, a batch's at once, instead of
    /// through the table's mapping: for a table the page cache cannot hold (a memory limit that binds), where each
    /// lookup would otherwise take a major fault and the page cache's reclaim; a resident table is faster mapped. Where
    /// direct I/O is refused the mapping serves. The single lookups always use the mapping. Thread-safe.
    /// </summary>
    public bool ReadEntriesDirect { get; set; }

    /// <summary>
    /// Whether <see cref="ReadVerified"/> predicts where a key's content is from where the previous key's was (the next
    /// block of the same image: lookups in a volume's block order over images that share runs of content) and takes a
    /// predicted block whose fingerprint matches as the hit, with no table entry read; keys predicted wrong go to the
    /// entry path. On by default. Thread-safe.
    /// </summary>
    public bool PredictsLocality { get; set; } = true;

    /// <summary>Hits <see cref="ReadVerified"/> found by prediction, without their table entries (tests, benchmarks).</summary>
    internal long PredictedHits => Interlocked.Read(ref _predicted);

    /// <summary>Table entries <see cref="ReadVerified"/> found by direct reads (tests, benchmarks).</summary>
    internal long EntriesReadDirect => Interlocked.Read(ref _readDirect);

    /// <summary>Test seam: spoils the results of the direct entry reads (a failed or short read).</summary>
    internal Action<Span<int>>? DirectReadFault { get; set; }

    /// <summary>Test and benchmark seam: writes the table's pages back and evicts them (a table not resident).</summary>
    internal void DropTablePages()
    {
        using var locked = LockScope.Write(_lock);
        ObjectDisposedException.ThrowIf(_disposed, this);
        _entries.Table.DropResidentPages();
    }

    /// <summary>True when the table can be read directly (<see cref="ReadEntriesDirect"/>): it has entries and direct I/O works on its file.</summary>
    internal bool TableReadsDirect
    {
        get
        {
            using var locked = LockScope.Read(_lock);
            return _entries.Table.DirectHandle is not null;
        }
    }

    /// <summary>How <see cref="ReadVerified"/> reads: "io_uring", or "pread" and why io_uring is not used.</summary>
    public string BatchReadMethod =>
        _batches.Mode == BatchReadMode.Uring && BatchReads.UringUnavailable is null ? "io_uring" : $"pread ({BatchReads.UringUnavailable ?? "chosen"})";

    /// <summary>Test seam: the reads batched lookups ask for (io_uring falls back to pread where unavailable).</summary>
    internal BatchReadMode BatchMode
    {
        get => _batches.Mode;
        set => _batches.Mode = value;
    }

    // Up to one batch's worth of lookups: resolved in rounds (Resolve), then what they left one at a time.
    private int ReadChunk(VerifiedBatch batch, ReadOnlySpan<FingerprintPrefix> prefixes, Span<byte> blocks, Span<bool> hits,
        Span<Fingerprint> fingerprints, ref Locality locality)
    {
        int count = prefixes.Length;
        for (int i = 0; i < count; i++)
            batch.Keys[i] = KeyOf(prefixes[i]);
        int found = Resolve(batch, count, blocks, fingerprints, ref locality), batchHits = found, misses = 0;
        for (int i = 0; i < count; i++)
        {
            var block = blocks.Slice(i * BlockSize, BlockSize);
            hits[i] = batch.Outcomes[i] switch
            {
                VerifiedBatch.Outcome.Hit => true,
                VerifiedBatch.Outcome.Retry => Lookup(batch.Keys[i], null, block, out fingerprints[i]), // counts itself
                _ => false,
            };
            if (batch.Outcomes[i] == VerifiedBatch.Outcome.Retry && hits[i])
                found++;
            else if (batch.Outcomes[i] == VerifiedBatch.Outcome.Miss)
            {
                block.Clear();
                fingerprints[i] = default;
                misses++;
            }
        }
        Interlocked.Add(ref _hits, batchHits);
        Interlocked.Add(ref _misses, misses);
        Interlocked.Add(ref _batchResolved, batchHits + misses);
        return found;
    }

    // The chunk's keys in rounds, in order: while there is an anchor (the previous key's content), keys are predicted
    // at the blocks after it (VerifiedBatch.Predict); the rest go to the entry path (located under the read lock,
    // verified outside it) a window at a time, whose last hit is the next anchor where the window shows locality
    // (Locality). Returns the hits.
    private int Resolve(VerifiedBatch batch, int count, Span<byte> blocks, Span<Fingerprint> fingerprints, ref Locality locality)
    {
        int found = 0;
        ImageRecord?[] images; // as of the last lock: a predicted block is verified whichever image has its id now
        using (LockScope.Read(_lock))
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            images = _images.ById;
        }
        for (int i = 0; i < count;)
        {
            if (locality.Anchor != 0)
            {
                int predicted = batch.Predict(i, count, ref locality.Anchor, images, _keyOf, blocks, fingerprints);
                Interlocked.Add(ref _predicted, predicted);
                found += predicted;
                i += predicted;
                locality.Predicted(predicted, stoppedEarly: i < count);
                continue;
            }
            int window = Math.Min(locality.Window, count - i);
            using (LockScope.Read(_lock))
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                images = _images.ById;
                Interlocked.Add(ref _readDirect, batch.Locate(i, window, _entries, ReadEntriesDirect, DirectReadFault));
            }
            found += batch.Verify(i, window, images, _keyOf, blocks, fingerprints);
            i += window;
            locality.Located(window > 1 ? HitAt(batch, i - 2) : 0, HitAt(batch, i - 1));
        }
        return found;
    }

    private static ulong HitAt(VerifiedBatch batch, int i) => batch.Outcomes[i] == VerifiedBatch.Outcome.Hit ? batch.LocationOf(i) : 0;
}
