using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Teleport.Storage.Volumes;

/// <summary>The volumes this worker serves, by name, with the dirty tracker a source migration reads.</summary>
public sealed class VolumeTrackers
{
    private readonly ConcurrentDictionary<string, VolumeEntry> _volumes = new(StringComparer.Ordinal);

    public bool TryGet(string name, [NotNullWhen(true)] out VolumeEntry? entry) => _volumes.TryGetValue(name, out entry);

    public bool Contains(string name) => _volumes.ContainsKey(name);

    public IReadOnlyList<VolumeEntry> List() => _volumes.Values.OrderBy(v => v.Name, StringComparer.Ordinal).ToArray();

    internal bool TryAdd(VolumeEntry entry) => _volumes.TryAdd(entry.Name, entry);

    internal bool TryRemove(string name, [NotNullWhen(true)] out VolumeEntry? entry) => _volumes.TryRemove(name, out entry);
}
