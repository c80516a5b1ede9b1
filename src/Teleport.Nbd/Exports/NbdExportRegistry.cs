using System.Collections.Concurrent;

namespace Teleport.Nbd.Exports;

/// <summary>The named exports a server offers. Thread-safe; changes apply to new connections.</summary>
public sealed class NbdExportRegistry
{
    private readonly ConcurrentDictionary<string, INbdExport> _exports = new(StringComparer.Ordinal);

    // Names about to be added, each with what a client held waiting for it awaits (one per name, not per client).
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _expected = new(StringComparer.Ordinal);

    /// <summary>Adds an export; throws when the name is taken. A client held waiting for it gets it now.</summary>
    public void Add(INbdExport export)
    {
        ArgumentNullException.ThrowIfNull(export);
        if (!_exports.TryAdd(export.Name, export))
        {
            throw new InvalidOperationException($"An export named '{export.Name}' already exists.");
        }

        Unexpect(export.Name);
    }

    /// <summary>
    /// Announces an export about to be added: a client selecting it meanwhile is held (bounded by the server's
    /// ExpectedExportWait) instead of refused, and answered the moment it is added.
    /// </summary>
    public void Expect(string name) => _expected.TryAdd(name, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>The export will not come (or came): clients held for it are answered now.</summary>
    public void Unexpect(string name)
    {
        if (_expected.TryRemove(name, out var added))
        {
            added.TrySetResult();
        }
    }

    /// <summary>Waits up to <paramref name="wait"/> for an expected export; false at once when none is expected under that name.</summary>
    public async Task<bool> WaitForAsync(string name, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!_expected.TryGetValue(name, out var added))
        {
            return false;
        }

        try
        {
            await added.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }

        return _exports.ContainsKey(name);
    }

    /// <summary>Removes an export from the list; open connections keep using it.</summary>
    public bool Remove(string name) => _exports.TryRemove(name, out _);

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out INbdExport? export) =>
        _exports.TryGetValue(name, out export);

    /// <summary>All exports, ordered by name.</summary>
    public IReadOnlyList<INbdExport> List() => _exports.Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToArray();
}
