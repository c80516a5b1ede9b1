using System.Text.Json;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Storage.Volumes;

namespace Teleport.Storage.Retention;

/// <summary>
/// The retained copies on disk: <c>VOLUMEDIR/.retained/NAME.MIGRATION.img</c> with a <c>.json</c> record beside it.
/// The record is written (durably) before the volume is renamed into place, so a crash leaves the volume or the copy,
/// never neither: a record whose copy is missing means the rename did not happen (or the copy was deleted) and is
/// dropped at load. The directory starts with a dot, so the volume store never lists or exports what is in it.
/// </summary>
public sealed class RetainedStore
{
    public const string DirectoryName = ".retained";

    private const string RecordExtension = ".json";
    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public RetainedStore(string volumeDirectory)
    {
        Directory = Path.Combine(Path.GetFullPath(volumeDirectory), DirectoryName);
    }

    public string Directory { get; }

    public string PathOf(RetainedCopy copy) => Path.Combine(Directory, copy.Stem + VolumeStore.Extension);

    private string RecordPathOf(RetainedCopy copy) => Path.Combine(Directory, copy.Stem + RecordExtension);

    /// <summary>Renames volume <paramref name="copy"/>.VolumeId of <paramref name="volumes"/> into the retained directory, durably, and makes it read-only.</summary>
    public string Retain(VolumeStore volumes, RetainedCopy copy)
    {
        string volume = volumes.PathOf(copy.VolumeId);
        if (!File.Exists(volume))
            throw new FileNotFoundException($"volume '{copy.VolumeId}' has no file to retain", volume);
        System.IO.Directory.CreateDirectory(Directory);
        // The volume's data reaches the disk before its name changes; then the record, then the rename.
        using (var file = new FileStream(volume, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
            file.Flush(flushToDisk: true);
        DurableFile.Replace(RecordPathOf(copy), JsonSerializer.SerializeToUtf8Bytes(copy, Json));
        string retained = PathOf(copy);
        File.Move(volume, retained);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(retained, ReadOnly);
        DurableFile.SyncDirectory(Directory);
        DurableFile.SyncDirectory(volumes.Directory);
        // The volume's own state (allowed NBD clients) goes with the volume.
        File.Delete(volumes.ClientsPathOf(copy.VolumeId));
        return retained;
    }

    /// <summary>The copies on disk, oldest first; records without their copy are removed when <paramref name="repair"/> (the worker, not a reader).</summary>
    public IReadOnlyList<RetainedCopy> Load(ILogger log, bool repair = true)
    {
        if (!System.IO.Directory.Exists(Directory))
            return [];
        var copies = new List<RetainedCopy>();
        foreach (string record in System.IO.Directory.EnumerateFiles(Directory, "*" + RecordExtension))
        {
            var copy = Read(record, log);
            if (copy is null || Path.GetFileName(record) != copy.Stem + RecordExtension)
            {
                log.LogWarning("Ignoring unreadable retained-copy record {Path}", record);
                continue;
            }

            if (File.Exists(PathOf(copy)))
            {
                copies.Add(copy);
                continue;
            }

            // Written before a rename that did not happen (the volume is still a volume), or left by a deletion.
            if (!repair)
                continue;
            log.LogInformation("Dropping the record of retained copy {Copy}: its file is not there", copy.Stem);
            DurableFile.Delete(record);
        }

        return copies.OrderBy(c => c.RetainedAt).ThenBy(c => c.Stem, StringComparer.Ordinal).ToArray();
    }

    /// <summary>Deletes the copy, then its record (a crash between the two leaves a record that the next load drops).</summary>
    public void Delete(RetainedCopy copy)
    {
        DurableFile.Delete(PathOf(copy));
        DurableFile.Delete(RecordPathOf(copy));
    }

    private static RetainedCopy? Read(string path, ILogger log)
    {
        try
        {
            var copy = JsonSerializer.Deserialize<RetainedCopy>(File.ReadAllBytes(path), Json);
            return copy is not null && VolumeStore.IsValidName(copy.VolumeId) ? copy : null;
        }
        catch (Exception e) when (e is JsonException or IOException or NotSupportedException)
        {
            log.LogDebug("Cannot read {Path}: {Reason}", path, e.Message);
            return null;
        }
    }
}
