using System.Text;
using System.Text.RegularExpressions;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Volumes;

/// <summary>
/// Who may open a volume's NBD export over TLS: the host ids (client certificate subject CNs) listed for it in
/// <see cref="StorageWorkerOptions.ExportClients"/> and in <c>NAME.img.clients</c> beside it, one a line ('#' starts
/// a comment). A migration adds the VM's host to that file when it prepares the destination, so the grant lasts as
/// long as the volume (deleting the volume deletes it). The file is read at each connection: edits apply at once.
/// </summary>
public sealed partial class ExportClientList(StorageWorkerOptions options, VolumeStore store)
{
    // A grant file is a few names; anything larger is not read at all rather than parsed into memory.
    private const long MaxFileBytes = 64 * 1024;

    private readonly Lock _write = new();

    /// <summary>Host ids may reach files and logs: the host worker's alphabet, nothing else.</summary>
    public static bool IsValidClient(string? id) => id is not null && SafeId().IsMatch(id);

    /// <summary>True when <paramref name="client"/> may open <paramref name="volume"/>.</summary>
    public bool Allows(string volume, string client) =>
        (options.ExportClients.TryGetValue(volume, out string[]? configured) && configured.Contains(client, StringComparer.Ordinal))
        || Granted(volume).Contains(client, StringComparer.Ordinal);

    /// <summary>Adds <paramref name="client"/> to the volume's grant file (once).</summary>
    /// <exception cref="ArgumentException">Not a host id.</exception>
    public void Allow(string volume, string client)
    {
        if (!IsValidClient(client))
            throw new ArgumentException($"'{client}' is not a host id that may be allowed volume '{volume}'");
        lock (_write)
        {
            if (!Granted(volume).Contains(client, StringComparer.Ordinal))
                File.AppendAllText(store.ClientsPathOf(volume), client + "\n", Encoding.UTF8);
        }
    }

    /// <summary>The host ids of the volume's grant file (empty when there is none).</summary>
    public IReadOnlyList<string> Granted(string volume)
    {
        var file = new FileInfo(store.ClientsPathOf(volume));
        if (!file.Exists || file.Length > MaxFileBytes)
            return [];
        return File.ReadAllLines(file.FullName)
            .Select(line => (line.IndexOf('#') is var hash and >= 0 ? line[..hash] : line).Trim())
            .Where(IsValidClient)
            .ToArray();
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,128}$")]
    private static partial Regex SafeId();
}
