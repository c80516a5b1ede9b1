using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;

namespace Teleport.Storage.Migrations;

/// <summary>
/// One small JSON file per side of a migration this worker takes part in (state directory, <c>migrations/</c>),
/// written when it starts and removed when it ends. A worker that restarts finds the migrations it was in the
/// middle of and reports them failed instead of leaving the saga waiting or, worse, claiming success.
/// </summary>
public sealed class MigrationJournal : IMigrationJournal
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    private readonly ILogger _log;

    public MigrationJournal(string stateDirectory, ILogger log)
    {
        Directory = Path.Combine(stateDirectory, "migrations");
        _log = log;
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public void Write(JournalEntry entry)
    {
        // Durable before the caller publishes anything the entry stands for.
        DurableFile.Replace(PathOf(entry.MigrationId, entry.Role), JsonSerializer.SerializeToUtf8Bytes(entry, Json));
    }

    public void Remove(Guid migrationId, MigrationRole role) => DurableFile.Delete(PathOf(migrationId, role));

    /// <summary>Every readable entry; an unreadable file is logged and removed (it names no migration we can report).</summary>
    public IReadOnlyList<JournalEntry> Load()
    {
        var entries = new List<JournalEntry>();
        foreach (string path in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            try
            {
                var entry = JsonSerializer.Deserialize<JournalEntry>(File.ReadAllBytes(path), Json);
                if (entry is null || Path.GetFileName(path) != FileName(entry.MigrationId, entry.Role))
                    throw new JsonException("the entry does not match its file name");
                entries.Add(entry);
            }
            catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
            {
                _log.LogWarning("Dropping unreadable migration journal entry {Path}: {Reason}", path, e.Message);
                File.Delete(path);
            }
        }

        return entries;
    }

    private string PathOf(Guid migrationId, MigrationRole role) => Path.Combine(Directory, FileName(migrationId, role));

    private static string FileName(Guid migrationId, MigrationRole role) => $"{migrationId:N}-{role.ToString().ToLowerInvariant()}.json";
}
