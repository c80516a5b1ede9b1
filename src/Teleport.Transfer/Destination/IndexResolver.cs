using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// Resolves the index stream against what this side already has: zero runs, blocks an earlier attempt left in the
/// volume (the hint, trusted per block after re-hashing), content repeated earlier in the volume (copied, or waiting
/// until it arrives) and the local <see cref="BlockIndex"/>. Whatever none of them provides is queued on the
/// <see cref="RequestPlanner"/>. No sockets: it works on the volume and the planner only.
/// <para>
/// The stream names content by 128-bit fingerprint prefixes. A block built here without receiving it is recorded with
/// the full fingerprint of the bytes written, so a prefix collision makes the volume digest differ from the source's
/// (the migration fails verification) instead of passing as a verified copy.
/// </para>
/// </summary>
internal sealed class IndexResolver
{
    private readonly CheckpointedVolume _volume;
    private readonly RequestPlanner _requests;
    private readonly DestinationStatistics _stats;
    private readonly BlockIndex? _index;
    private readonly IndexPrefetch? _prefetch;
    private readonly Buddies.BuddyFill? _buddies;
    private readonly VolumeGeometry _geometry;
    private readonly byte[] _block;
    private BlockBitmap? _hint;

    // Blocks waiting for the content of an earlier block still to arrive, by that block.
    private readonly BlockBitmap _waiting;
    private readonly Dictionary<long, List<(long Block, FingerprintPrefix Prefix)>> _waiters = new();

    // First block of each content seen in the index stream, by fingerprint prefix.
    private readonly Dictionary<ulong, long> _seen = new();

    // Certain misses are looked for ahead of the resolution (in batches still queued behind the one applied): the
    // contents examined so far and the block the examined part of the stream reaches.
    private readonly HashSet<ulong> _examined = [];
    private long _examinedUpTo;

    // Fingerprint entries listed on this connection, for repeat entries.
    private readonly List<FingerprintPrefix> _listed = [];

    /// <summary>
    /// <paramref name="waiting"/> is the set of blocks waiting for a copy, shared with <paramref name="requests"/>;
    /// <paramref name="index"/> the local index, or null (one of another block size is not used); <paramref name="hint"/>
    /// the blocks an earlier attempt left in the volume, re-checked before use, or null; <paramref name="buddies"/> asks
    /// the site's buddies for certain misses before they are requested, or null.
    /// </summary>
    public IndexResolver(CheckpointedVolume volume, RequestPlanner requests, BlockBitmap waiting, DestinationStatistics stats,
        BlockIndex? index, BlockBitmap? hint, Buddies.BuddyFill? buddies = null)
    {
        _buddies = buddies;
        _volume = volume;
        _requests = requests;
        _waiting = waiting;
        _stats = stats;
        _geometry = volume.Geometry;
        _index = index is not null && index.BlockSize == _geometry.BlockSize ? index : null;
        _prefetch = _index is null ? null : new IndexPrefetch(_index);
        _hint = hint;
        _block = new byte[_geometry.BlockSize];
    }

    /// <summary>
    /// A new connection: repeat entries refer only to fingerprints listed on it, and in the index phase the stream comes
    /// again from the cursor, where the source dropped what was requested ahead: it is looked at and requested anew.
    /// </summary>
    public void StartConnection()
    {
        _listed.Clear();
        if (_volume.State.Phase != DestinationPhase.Index)
            return;
        _requests.ForgetFrom(_volume.State.IndexCursor);
        _examined.Clear();
        _examinedUpTo = _volume.State.IndexCursor;
    }

    /// <summary>Checks the whole batch (every entry, every repeat's reference) before anything of it is applied.</summary>
    public void Validate(ReadOnlySpan<byte> payload)
    {
        var reader = new IndexBatchReader(payload, _geometry, _volume.State.IndexCursor);
        int listed = _listed.Count;
        while (reader.TryRead(out var entry))
        {
            if (entry.Repeat > 0)
            {
                if (entry.Repeat > listed)
                    throw new TransferException(TransferErrorCode.OutOfRange,
                        $"IndexBatch repeat at block {entry.Block} refers to fingerprint entry -{entry.Repeat}; only {listed} were listed on this connection");
            }
            else if (!entry.Zero)
            {
                listed++;
            }
        }
    }

    /// <summary>
    /// Queues requests for the batch's blocks that <see cref="Apply"/> will certainly request: content first listed
    /// here (not earlier in the stream), no hint, and no entry in the local index. Only memory is consulted, so these go
    /// out before the batch's index reads and copies. Blocks already examined ahead are skipped.
    /// </summary>
    public void QueueCertainMisses(ReadOnlySpan<byte> payload) =>
        Examine(new IndexBatchReader(payload, _geometry, _volume.State.IndexCursor));

    /// <summary>
    /// As <see cref="QueueCertainMisses"/> for a batch still queued behind the one being applied
    /// (the stream's next, in order), so its misses go out before this side has resolved what comes before it. A batch
    /// that does not continue the examined stream or is malformed is left alone (its own turn reports it); returns
    /// whether to go on with the next one.
    /// </summary>
    public bool QueueCertainMissesAhead(ReadOnlySpan<byte> payload)
    {
        try
        {
            long first = IndexBatchReader.FirstBlock(payload);
            if (first > _examinedUpTo || first < _volume.State.IndexCursor)
                return false;
            Examine(new IndexBatchReader(payload, _geometry, first));
            return true;
        }
        catch (TransferException)
        {
            return false;
        }
    }

    private void Examine(IndexBatchReader reader)
    {
        var presence = _volume.Presence;
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero || entry.Repeat > 0 || entry.Block < _examinedUpTo)
                continue;
            // Content listed twice: only its first block can be a certain miss (the others copy or wait for it).
            if (!_examined.Add(entry.Prefix.High) || _seen.ContainsKey(entry.Prefix.High) || HintCovers(entry.Block))
                continue;
            if (_index is not null && _index.MayContain(entry.Prefix))
                continue;
            if (presence.Test(entry.Block) || _requests.IsRequested(entry.Block))
                continue;
            if (_buddies is not null)
                _buddies.Add(entry.Block, entry.Prefix);
            else
                _requests.Queue(entry.Block);
        }

        _examinedUpTo = Math.Max(_examinedUpTo, reader.Next);
    }

    /// <summary>Asks the buddies for the certain misses <see cref="QueueCertainMisses"/> set aside; what they lack is requested.</summary>
    public ValueTask AskBuddiesAsync(CancellationToken ct) => _buddies?.ResolveAsync(ct) ?? ValueTask.CompletedTask;

    /// <summary>Resolves a validated batch entry by entry and advances the index cursor past it.</summary>
    public void Apply(ReadOnlySpan<byte> payload)
    {
        var state = _volume.State;
        Prefetch(payload, state.IndexCursor);
        try
        {
            ApplyEntries(payload, state);
        }
        finally
        {
            _prefetch?.Settle();
        }
    }

    private void ApplyEntries(ReadOnlySpan<byte> payload, DestinationState state)
    {
        var reader = new IndexBatchReader(payload, _geometry, state.IndexCursor);
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero)
            {
                _volume.MarkZeroRun(entry.Block, entry.Count);
                _stats.ZeroBlocks += entry.Count;
            }
            else if (entry.Repeat > 0)
            {
                // Same content as an earlier fingerprint entry: resolved like that fingerprint (copied, or waiting for it).
                Resolve(entry.Block, _listed[_listed.Count - (int)entry.Repeat]);
            }
            else
            {
                _listed.Add(entry.Prefix);
                Resolve(entry.Block, entry.Prefix);
            }
        }

        state.IndexCursor = reader.Next;
    }

    /// <summary>The index stream ended: what only it needed is released.</summary>
    public void EndIndex()
    {
        _seen.Clear();
        _seen.TrimExcess();
        _examined.Clear();
        _examined.TrimExcess();
        _listed.Clear();
        _listed.TrimExcess();
        _hint = null;
    }

    /// <summary>
    /// Block <paramref name="block"/> arrived with <paramref name="data"/> (empty: zeros), already written: it is
    /// present, and the blocks that waited for its content are filled, or requested if its content changed.
    /// </summary>
    public void Received(long block, in Fingerprint fingerprint, ReadOnlySpan<byte> data)
    {
        MarkPresent(block, fingerprint);
        if (_waiters.Count == 0 || !_waiters.Remove(block, out var list))
            return;
        foreach (var (waiter, expected) in list)
        {
            if (!_waiting.Test(waiter))
                continue; // it arrived by itself meanwhile
            if (expected.Matches(fingerprint))
            {
                // The source block changed since the index phase would show as a different fingerprint.
                if (data.IsEmpty)
                    _volume.WriteZeros(_geometry.Offset(waiter), _geometry.BlockLength(waiter));
                else
                    _volume.Write(data[.._geometry.BlockLength(waiter)], _geometry.Offset(waiter));
                MarkPresent(waiter, fingerprint);
            }
            else
            {
                _waiting.Clear(waiter);
                _requests.Queue(waiter);
            }
        }
    }

    private void Resolve(long block, in FingerprintPrefix prefix)
    {
        ulong key = prefix.High;
        // Requested ahead by QueueCertainMisses (its data is on the way or, before a reconnect, arrived), or written from a buddy.
        if (_requests.IsRequested(block) || _volume.Presence.Test(block) || (_buddies is not null && _buddies.Filled(block)))
        {
            _seen.TryAdd(key, block);
            return;
        }

        // An earlier attempt may have left exactly this block here.
        if (HintCovers(block) && _volume.ReadBlock(block, _block) is var held && prefix.Matches(held))
        {
            MarkPresent(block, held);
            _seen.TryAdd(key, block);
            _stats.FromVolume++;
            return;
        }

        // The same content occurs earlier in this volume: copy it, or wait for it if it is still to come.
        if (_seen.TryGetValue(key, out long first) && first != block && TryCopyOrWait(block, first, prefix))
        {
            _stats.FromVolume++;
            return;
        }

        if (_prefetch is not null && _prefetch.TryRead(block, prefix, out var found, out var content))
        {
            WriteBlock(block, found[.._geometry.BlockLength(block)], content);
            _seen.TryAdd(key, block);
            _stats.FromIndex++;
            return;
        }

        _seen.TryAdd(key, block);
        _requests.Queue(block);
    }

    /// <summary>
    /// Fills <paramref name="block"/> from <paramref name="first"/>, an earlier block with the same fingerprint prefix:
    /// copied when present and verified, or registered to wait for it unless it is itself waiting.
    /// </summary>
    private bool TryCopyOrWait(long block, long first, in FingerprintPrefix prefix)
    {
        if (_volume.Presence.Test(first))
        {
            var content = _volume.ReadBlock(first, _block);
            if (!prefix.Matches(content))
                return false;
            WriteBlock(block, _block.AsSpan(0, _geometry.BlockLength(block)), content);
            return true;
        }

        if (_waiting.Test(first))
            return false;
        if (!_waiters.TryGetValue(first, out var list))
            _waiters[first] = list = [];
        list.Add((block, prefix));
        _waiting.Set(block);
        return true;
    }

    /// <summary>Looks up ahead the batch's fingerprints that neither a repeat, the hint, an earlier block nor a request provides.</summary>
    private void Prefetch(ReadOnlySpan<byte> payload, long first)
    {
        if (_prefetch is null)
            return;
        _prefetch.Clear();
        var reader = new IndexBatchReader(payload, _geometry, first);
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero || entry.Repeat > 0 || _seen.ContainsKey(entry.Prefix.High) || HintCovers(entry.Block) || _requests.IsRequested(entry.Block))
                continue;
            _prefetch.Add(entry.Block, entry.Prefix);
        }

        _prefetch.Start();
    }

    private bool HintCovers(long block) => _hint is not null && _hint.Test(block);

    private void WriteBlock(long block, ReadOnlySpan<byte> data, in Fingerprint fingerprint)
    {
        // Every caller hashed these bytes to the fingerprint (the index's verified read, a block read back here).
        _volume.WriteHashedBlock(block, data, fingerprint);
        _waiting.Clear(block);
    }

    private void MarkPresent(long block, in Fingerprint fingerprint)
    {
        _volume.MarkPresent(block, fingerprint);
        _waiting.Clear(block);
    }
}
