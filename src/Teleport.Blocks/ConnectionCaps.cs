using System.Net;

namespace Teleport.Blocks;

/// <summary>Counts the open connections of a listener, in all and per peer address, and refuses those past the caps.</summary>
public sealed class ConnectionCaps(int maxTotal, int maxPerPeer)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, int> _perPeer = [];
    private int _total;

    /// <summary>Counts a new connection in and returns null, or returns why it is refused (then nothing is counted).</summary>
    public string? TryAdmit(IPAddress? peer)
    {
        lock (_lock)
        {
            if (_total >= maxTotal)
            {
                return $"{_total} connections are open, the limit is {maxTotal}";
            }

            int fromPeer = peer is null ? 0 : _perPeer.GetValueOrDefault(peer);
            if (fromPeer >= maxPerPeer)
            {
                return $"{fromPeer} connections from this address are open, the limit is {maxPerPeer}";
            }

            _total++;
            if (peer is not null)
            {
                _perPeer[peer] = fromPeer + 1;
            }

            return null;
        }
    }

    public void Leave(IPAddress? peer)
    {
        lock (_lock)
        {
            _total--;
            if (peer is not null && --_perPeer[peer] == 0)
            {
                _perPeer.Remove(peer);
            }
        }
    }
}
