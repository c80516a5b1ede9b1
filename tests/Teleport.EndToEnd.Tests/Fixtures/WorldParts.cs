namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>What a world started, in a directory of its own: stopped in reverse order (the guest first) and the directory removed.</summary>
public abstract class WorldParts(string root) : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _parts = [];

    public string Root { get; } = root;

    protected T Add<T>(T part)
        where T : IAsyncDisposable
    {
        _parts.Add(part);
        return part;
    }

    /// <summary>Stops everything in reverse order and removes the files.</summary>
    public async ValueTask DisposeAsync()
    {
        for (int i = _parts.Count - 1; i >= 0; i--)
        {
            try
            {
                await _parts[i].DisposeAsync();
            }
            catch (Exception)
            {
                // Keep stopping the rest; the test has its own verdict.
            }
        }

        _parts.Clear();
        // An orchestrator on SQLite leaves its file open in the pool; cleared so the directory can go.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }

        GC.SuppressFinalize(this);
    }
}
