using Microsoft.Extensions.Logging;
using Teleport.Blocks;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// A destination session's buddies: one <see cref="BuddyClient"/> each, asked in the configured order for the
/// fingerprints still missing. Its connections outlive source sessions and data-channel connections.
/// </summary>
internal sealed class BuddySet : IAsyncDisposable
{
    private readonly BuddyClient[] _clients;
    private FingerprintPrefix[] _missing = [];
    private int[] _at = [];
    private byte[] _gotBlocks = [];
    private Fingerprint[] _gotFingerprints = [];
    private bool[] _got = [];

    public BuddySet(BuddyOptions options, ILogger log)
    {
        options.Validate();
        _clients = [.. options.Peers.Select(p => new BuddyClient(p, options, log))];
    }

    /// <summary>Blocks buddies sent that did not match their fingerprints (not used).</summary>
    public long Rejected { get; private set; }

    /// <summary>
    /// Fills <paramref name="found"/>, <paramref name="blocks"/> and <paramref name="fingerprints"/> (as
    /// <see cref="BuddyClient.LookupAsync"/>) for <paramref name="prefixes"/> from the first buddy that has each.
    /// </summary>
    public async Task LookupAsync(FingerprintPrefix[] prefixes, int count, int blockSize, byte[] blocks, Fingerprint[] fingerprints,
        bool[] found, CancellationToken ct)
    {
        Array.Clear(found, 0, count);
        if (_at.Length < count || _gotBlocks.Length < count * blockSize)
        {
            // Sized once for the largest lookup and reused: one session asks one batch at a time.
            _missing = new FingerprintPrefix[count];
            _at = new int[count];
            _gotBlocks = new byte[count * blockSize];
            _gotFingerprints = new Fingerprint[count];
            _got = new bool[count];
        }

        var (missing, at, gotBlocks, gotFingerprints, got) = (_missing, _at, _gotBlocks, _gotFingerprints, _got);
        int left = count;
        for (int i = 0; i < count; i++)
            at[i] = i;
        foreach (var client in _clients)
        {
            if (left == 0)
                return;
            if (!client.Available)
                continue;
            for (int i = 0; i < left; i++)
                missing[i] = prefixes[at[i]];
            Array.Clear(got, 0, left);
            int wrong = await client.LookupAsync(missing.AsMemory(0, left), blockSize, gotBlocks, gotFingerprints, got, ct).ConfigureAwait(false);
            if (wrong < 0)
                continue;
            Rejected += wrong;
            left = Keep(left, at, got, blockSize, gotBlocks, gotFingerprints, blocks, fingerprints, found);
        }
    }

    // Moves what the buddy found into the caller's arrays and compacts the still-missing positions; returns how many are left.
    private static int Keep(int left, int[] at, bool[] got, int blockSize, byte[] gotBlocks, Fingerprint[] gotFingerprints,
        byte[] blocks, Fingerprint[] fingerprints, bool[] found)
    {
        int still = 0;
        for (int i = 0; i < left; i++)
        {
            int position = at[i];
            if (!got[i])
            {
                at[still++] = position;
                continue;
            }

            gotBlocks.AsSpan(i * blockSize, blockSize).CopyTo(blocks.AsSpan(position * blockSize));
            fingerprints[position] = gotFingerprints[i];
            found[position] = true;
        }

        return still;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
            await client.DisposeAsync().ConfigureAwait(false);
    }
}
