using System.Collections.Concurrent;

namespace Teleport.Nbd.Server;

/// <summary>How many connections are in the transmission phase per export name (a volume in use cannot be deleted).</summary>
internal sealed class NbdAttachments
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public void Attach(string export) => _counts.AddOrUpdate(export, 1, (_, n) => n + 1);

    public void Detach(string export)
    {
        // Loop on the compare-and-swap so a concurrent Attach is never lost; an entry at zero is removed.
        while (_counts.TryGetValue(export, out int n))
        {
            if (n <= 1 ? _counts.TryRemove(new KeyValuePair<string, int>(export, n)) : _counts.TryUpdate(export, n - 1, n))
                return;
        }
    }

    public int Count(string export) => _counts.GetValueOrDefault(export);
}
