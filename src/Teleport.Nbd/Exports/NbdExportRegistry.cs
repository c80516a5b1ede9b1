using System.Collections.Concurrent;

namespace Teleport.Nbd.Exports;

/// <summary>The named exports a server offers. Thread-safe; changes apply to new connections.</summary>
public sealed class NbdExportRegistry
{
    private readonly ConcurrentDictionary<string, INbdExport> _exports = new(StringComparer.Ordinal);

    /// <summary>Adds an export; throws when the name is taken.</summary>
    public void Add(INbdExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        if (!_exports.TryAdd(export.Name, export))
        {
            throw new InvalidOperationException($"An export named '{export.Name}' already exists.");
        }
    }

    /// <summary>Removes an export from the list; open connections keep using it.</summary>
    public bool Remove(string name) => _exports.TryRemove(name, out _);

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out INbdExport? export) =>
        _exports.TryGetValue(name, out export);

    /// <summary>All exports, ordered by name.</summary>
    public IReadOnlyList<INbdExport> List() => _exports.Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToArray();
}
