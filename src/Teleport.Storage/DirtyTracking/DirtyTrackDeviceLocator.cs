namespace Teleport.Storage.DirtyTracking;

/// <summary>
/// Finds the dm-dirtytrack character device of a volume: /dev/mapper/NAME, an LVM path such as /dev/vg/lv, or
/// /dev/dm-N all name the device-mapper device dm-N, whose tracker (when its table is a dirtytrack target) is
/// /dev/dirtytrack/dm-N. The roots are parameters so tests can point them at a fake tree.
/// </summary>
public sealed class DirtyTrackDeviceLocator(string devRoot = "/dev", string sysRoot = "/sys")
{
    /// <summary>The kernel name (dm-N) of the device-mapper device at <paramref name="volumePath"/>, or null when it is not one.</summary>
    public string? FindDmName(string volumePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(volumePath);
        string path = Path.GetFullPath(volumePath);
        if (!File.Exists(path))
            return null;
        // udev makes /dev/mapper/NAME and /dev/VG/LV symlinks to ../dm-N.
        string resolved = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        string name = Path.GetFileName(resolved);
        if (IsDmName(name))
            return name;
        // Without udev, dmsetup makes /dev/mapper/NAME a device node of its own: look the name up in sysfs.
        if (Path.GetDirectoryName(resolved) == Path.Combine(devRoot, "mapper"))
            return FindByMapperName(name);
        return null;
    }

    /// <summary>
    /// The tracker device of the volume at <paramref name="volumePath"/>, or null when the volume is not a
    /// device-mapper device or its table is not a dirtytrack target.
    /// </summary>
    public string? FindTracker(string volumePath)
    {
        string? dm = FindDmName(volumePath);
        if (dm is null)
            return null;
        string tracker = Path.Combine(devRoot, "dirtytrack", dm);
        return File.Exists(tracker) ? tracker : null;
    }

    private bool IsDmName(string name) =>
        name.StartsWith("dm-", StringComparison.Ordinal) && name.Length > 3 && name.AsSpan(3).IndexOfAnyExceptInRange('0', '9') < 0
        && Directory.Exists(Path.Combine(sysRoot, "block", name, "dm"));

    private string? FindByMapperName(string mapperName)
    {
        string block = Path.Combine(sysRoot, "block");
        if (!Directory.Exists(block))
            return null;
        foreach (string dir in Directory.EnumerateFileSystemEntries(block, "dm-*"))
        {
            string nameFile = Path.Combine(dir, "dm", "name");
            if (File.Exists(nameFile) && File.ReadAllText(nameFile).TrimEnd('\n') == mapperName)
                return Path.GetFileName(dir);
        }
        return null;
    }
}
