using Teleport.Blocks;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// What one source session's index batches leave for the buddies: the blocks no local source can provide are set
/// aside instead of requested, looked up at the buddies in batches, written when a buddy has them (each verified
/// against its fingerprint by <see cref="BuddyClient"/>) and requested from the source otherwise.
/// </summary>
internal sealed class BuddyFill
{
    private readonly BuddySet _buddies;
    private readonly CheckpointedVolume _volume;
    private readonly RequestPlanner _requests;
    private readonly DestinationStatistics _stats;
    private readonly BlockIndex? _index;
    private readonly string _volumeFullPath;
    private readonly int _blockSize;
    private readonly int _max;
    private readonly List<(long Block, FingerprintPrefix Prefix)> _candidates = [];
    private readonly HashSet<long> _filled = [];
    private readonly FingerprintPrefix[] _prefixes;
    private readonly Fingerprint[] _fingerprints;
    private readonly bool[] _found;
    private readonly byte[] _blocks;

    /// <summary><paramref name="index"/>: the local index, which learns the blocks buddies provided (as it learns received ones).</summary>
    public BuddyFill(BuddySet buddies, CheckpointedVolume volume, RequestPlanner requests, DestinationStatistics stats,
        BlockIndex? index, string volumeFullPath)
    {
        _buddies = buddies;
        _volume = volume;
        _requests = requests;
        _stats = stats;
        _index = index;
        _volumeFullPath = volumeFullPath;
        _blockSize = volume.Geometry.BlockSize;
        _max = BuddyMessages.MaxLookup(_blockSize);
        _prefixes = new FingerprintPrefix[_max];
        _fingerprints = new Fingerprint[_max];
        _found = new bool[_max];
        _blocks = new byte[_max * _blockSize];
    }

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
            await _buddies.LookupAsync(_prefixes, count, _blockSize, _blocks, _fingerprints, _found, ct).ConfigureAwait(false);
            for (int i = 0; i < count; i++)
                Apply(_candidates[start + i].Block, i);
        }

        _stats.BuddyRejected = _buddies.Rejected;
        _candidates.Clear();
    }

    private void Apply(long block, int i)
    {
        if (!_found[i])
        {
            _requests.Queue(block);
            return;
        }

        int length = _volume.Geometry.BlockLength(block);
        _volume.WriteBlock(block, _blocks.AsSpan(i * _blockSize, length), _fingerprints[i]);
        _index?.Add(_fingerprints[i], _volumeFullPath, block);
        _filled.Add(block);
        _stats.FromBuddies++;
        _stats.BuddyBytes += _blockSize;
    }
}
