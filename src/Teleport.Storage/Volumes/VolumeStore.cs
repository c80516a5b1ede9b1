using Teleport.Blocks;

namespace Teleport.Storage.Volumes;

/// <summary>
/// The volume directory: <c>NAME.img</c> is the volume NAME. Names are checked before any path is built, so a
/// name can never reach outside the directory.
/// </summary>
public sealed class VolumeStore
{
    public const string Extension = ".img";

    /// <summary>Left beside a volume by an unfinished incoming migration: the volume is not consistent yet.</summary>
    public const string IncomingSuffix = ".incoming";

    /// <summary>Resume state of the data channel's destination session, beside the volume.</summary>
    public const string SessionStateSuffix = ".teleport-state";

    /// <summary>Beside a volume: the host ids allowed its NBD export over TLS, one a line (see <see cref="ExportClientList"/>).</summary>
    public const string ClientsSuffix = ".clients";

    private const int MaxNameLength = 200;

    public VolumeStore(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>Names of the volumes present, sorted; incoming (unfinished) ones excluded unless asked for.</summary>
    public IReadOnlyList<string> List(bool includeIncoming = false) =>
        System.IO.Directory.EnumerateFiles(Directory, "*" + Extension)
            .Select(path => Path.GetFileName(path)[..^Extension.Length])
            .Where(IsValidName)
            .Where(name => includeIncoming || !IsIncoming(name))
            .Order(StringComparer.Ordinal)
            .ToArray();

    public string PathOf(string name)
    {
        Validate(name);
        return Path.Combine(Directory, name + Extension);
    }

    /// <summary>The marker saying NAME is being built by a migration and must not be served.</summary>
    public string IncomingMarkerOf(string name) => PathOf(name) + IncomingSuffix;

    public string SessionStatePathOf(string name) => PathOf(name) + SessionStateSuffix;

    public string ClientsPathOf(string name) => PathOf(name) + ClientsSuffix;

    public bool Exists(string name) => File.Exists(PathOf(name));

    public bool IsIncoming(string name) => File.Exists(IncomingMarkerOf(name));

    /// <summary>Marks NAME as being built by an incoming migration (it is not listed or served until <see cref="MarkComplete"/>).</summary>
    public void MarkIncoming(string name) => DurableFile.Replace(IncomingMarkerOf(name), []);

    /// <summary>NAME is consistent: drop the incoming marker and the session's resume state.</summary>
    public void MarkComplete(string name)
    {
        File.Delete(SessionStatePathOf(name));
        DurableFile.Delete(IncomingMarkerOf(name));
    }

    /// <summary>Creates an empty sparse volume of <paramref name="bytes"/>; fails if it exists.</summary>
    public string Create(string name, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        string path = PathOf(name);
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        stream.SetLength(bytes); // extends without writing: the file stays sparse
        return path;
    }

    /// <summary>Deletes the volume and any unfinished-migration state; false when there was nothing.</summary>
    public bool Delete(string name)
    {
        string path = PathOf(name);
        bool existed = File.Exists(path);
        File.Delete(path);
        File.Delete(IncomingMarkerOf(name));
        File.Delete(SessionStatePathOf(name));
        File.Delete(ClientsPathOf(name));
        return existed;
    }

    public static bool IsValidName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && name[0] != '.' && name != ".."
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>Throws <see cref="ArgumentException"/> for names that are empty, hidden, too long or carry path characters.</summary>
    public static void Validate(string? name)
    {
        if (!IsValidName(name))
            throw new ArgumentException(
                $"'{name}' is not a volume name: use 1..{MaxNameLength} letters, digits, '-', '_' or '.', not starting with '.'");
    }
}
