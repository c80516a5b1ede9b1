using Teleport.Blocks;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// What one source session's index batches leave for the buddies: the blocks no local source can provide are set
/// aside instead of requested, looked up at the buddies in batches, written when a buddy has them (each verified
/// against its fingerprint by <see cref="BuddyClient"/>) and requested from the source otherwise. The local index, when
/// there is one, learns the blocks buddies provided, as it learns received ones.
/// </summary>
internal sealed class BuddyFill(BuddySet buddies, CheckpointedVolume volume, RequestPlanner requests, DestinationStatistics stats,
    BlockIndex? index, string volumeFullPath)
{
    private readonly int _blockSize = volume.Geometry.BlockSize;
    private readonly int _max = BuddyMessages.MaxLookup(volume.Geometry.BlockSize);
    private readonly List<(long Block, FingerprintPrefix Prefix)> _candidates = [];
    private readonly HashSet<long> _filled = [];
    private readonly FingerprintPrefix[] _prefixes = new FingerprintPrefix[BuddyMessages.MaxLookup(volume.Geometry.BlockSize)];
    private readonly Fingerprint[] _fingerprints = new Fingerprint[BuddyMessages.MaxLookup(volume.Geometry.BlockSize)];
    private readonly bool[] _found = new bool[BuddyMessages.MaxLookup(volume.Geometry.BlockSize)];
    private readonly byte[] _blocks = new byte[BuddyMessages.MaxLookup(volume.Geometry.BlockSize) * volume.Geometry.BlockSize];

    /// <summary>Sets <paramref name="block"/> aside for the buddies instead of requesting it.</summary>
    public void Add(long block, in FingerprintPrefix prefix) => _candidates.Add((block, prefix));

    /// <summary>True when the last <see cref="ResolveAsync"/> wrote <paramref name="block"/> from a buddy.</summary>
    public bool Filled(long block) => _filled.Contains(block);

    /// <summary>Asks the buddies for every block set aside; writes what they have and requests the rest from the source.</summary>
    public async ValueTask ResolveAsync(CancellationToken ct)
    {
        _filled.Clear();
        for (int start = 0; start < _candidates.Count; start += _max)
        {
            int count = Math.Min(_max, _candidates.Count - start);
            for (int i = 0; i < count; i++)
                _prefixes[i] = _candidates[start + i].Prefix;
            await buddies.LookupAsync(_prefixes, count, _blockSize, _blocks, _fingerprints, _found, ct).ConfigureAwait(false);
            for (int i = 0; i < count; i++)
                Apply(_candidates[start + i].Block, i);
        }

        stats.BuddyRejected = buddies.Rejected;
        _candidates.Clear();
    }

    private void Apply(long block, int i)
    {
        if (!_found[i])
        {
            requests.Queue(block);
            return;
        }

        int length = volume.Geometry.BlockLength(block);
        volume.WriteBlock(block, _blocks.AsSpan(i * _blockSize, length), _fingerprints[i]);
        index?.Add(_fingerprints[i], volumeFullPath, block);
        _filled.Add(block);
        stats.FromBuddies++;
        stats.BuddyBytes += _blockSize;
    }
}
