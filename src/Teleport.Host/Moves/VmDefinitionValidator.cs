using System.Globalization;
using Teleport.Contracts;
using Teleport.Host.Worker;

namespace Teleport.Host.Moves;

/// <summary>
/// Decides whether a VM definition from the bus may be started on this host. QEMU arguments only (they go to the
/// binary as an argument list, never through a shell), and only options that describe a machine and its devices:
/// an allow-list, so anything new is refused until someone decides it is safe. The host adds the disk backend, QMP,
/// -S and -incoming itself; options that open files, sockets or monitors, or break migration, are refused by name.
/// </summary>
public static class VmDefinitionValidator
{
    // Option → whether it takes a value.
    private static readonly Dictionary<string, bool> Allowed = new(StringComparer.Ordinal)
    {
        ["-machine"] = true, ["-M"] = true, ["-cpu"] = true, ["-smp"] = true, ["-m"] = true, ["-accel"] = true,
        ["-device"] = true, ["-global"] = true, ["-name"] = true, ["-uuid"] = true, ["-rtc"] = true, ["-boot"] = true,
        ["-vga"] = true, ["-display"] = true, ["-serial"] = true, ["-netdev"] = true, ["-object"] = true,
        ["-kernel"] = true, ["-initrd"] = true, ["-bios"] = true, ["-append"] = true,
        ["-nodefaults"] = false, ["-nographic"] = false, ["-no-reboot"] = false, ["-no-shutdown"] = false,
        ["-enable-kvm"] = false, ["-no-hpet"] = false,
    };

    private static readonly Dictionary<string, string> Refused = new(StringComparer.Ordinal)
    {
        ["-incoming"] = "the destination host adds its own -incoming",
        ["-S"] = "the destination host adds -S itself",
        ["-qmp"] = "the destination host opens its own QMP socket",
        ["-monitor"] = "a monitor would give the definition's author control of the host's QEMU",
        ["-mon"] = "a monitor would give the definition's author control of the host's QEMU",
        ["-chardev"] = "character devices open sockets and files on the host",
        ["-daemonize"] = "the host worker must own the QEMU process",
        ["-snapshot"] = "writes would go to a temporary file and be lost",
        ["-loadvm"] = "the VM's state comes from the migration stream",
        ["-drive"] = "the destination host adds the disk backend (its path switcher)",
        ["-blockdev"] = "the destination host adds the disk backend (its path switcher)",
    };

    private static readonly string[] SerialBackends = ["stdio", "null", "none"];

    /// <summary>Null when the definition may be started here, else the reason it may not.</summary>
    public static string? Check(VmDefinition? definition, HostWorkerOptions host)
    {
        if (definition?.Arguments is null || definition.DiskNodeName is null)
            return "the VM definition is missing its arguments or disk node name";
        if (!HostWorkerOptions.IsSafeId(definition.DiskNodeName) || !char.IsAsciiLetter(definition.DiskNodeName[0]))
            return $"disk node name '{definition.DiskNodeName}' must start with a letter and be 1-128 letters, digits, '.', '_' or '-'";
        if (definition.DiskBytes <= 0 || definition.MemoryBytes <= 0)
            return $"disk and memory sizes must be positive (got {definition.DiskBytes} and {definition.MemoryBytes} bytes)";
        if (definition.Arguments.Count > 256)
            return $"the definition has {definition.Arguments.Count} arguments; at most 256 are accepted";
        bool diskDevice = false;
        var args = definition.Arguments;
        for (int i = 0; i < args.Count; i++)
        {
            string option = args[i] ?? "";
            if (Refused.TryGetValue(option, out string? why))
                return $"option {option} is refused: {why}";
            if (!Allowed.TryGetValue(option, out bool takesValue))
                return $"option '{Shorten(option)}' is not allowed in a VM definition (allowed: {string.Join(' ', Allowed.Keys)})";
            if (!takesValue)
                continue;
            if (i + 1 >= args.Count)
                return $"option {option} needs a value";
            string value = args[++i] ?? "";
            if (CheckValue(option, value, host) is { } problem)
                return problem;
            diskDevice |= option == "-device" && value.Split(',').Contains($"drive={definition.DiskNodeName}", StringComparer.Ordinal);
        }

        if (!diskDevice)
            return $"no -device refers to the disk node '{definition.DiskNodeName}' (drive={definition.DiskNodeName})";
        return MemoryBytes(args) is { } memory && memory != definition.MemoryBytes
            ? $"-m gives {memory} bytes of memory, the definition says {definition.MemoryBytes}"
            : null;
    }

    private static string? CheckValue(string option, string value, HostWorkerOptions host)
    {
        if (value.Length > 4096 || value.Any(char.IsControl))
            return $"the value of {option} is longer than 4096 characters or holds control characters";
        return option switch
        {
            "-kernel" or "-initrd" or "-bios" => CheckBootFile(option, value, host),
            "-serial" when !SerialBackends.Contains(value) => $"-serial {Shorten(value)} is refused: only {string.Join(", ", SerialBackends)} (the console goes to the host's log)",
            "-display" when value != "none" => "-display may only be none (a display server would listen on the host)",
            "-netdev" when !value.StartsWith("user,", StringComparison.Ordinal) => "-netdev may only be user networking (tap and bridge run host scripts)",
            "-object" when !value.StartsWith("memory-backend-ram,", StringComparison.Ordinal) => "-object may only be memory-backend-ram (others open files, sockets or secrets)",
            _ when HasFileProperty(value) => $"the value of {option} names a host file or socket ({Shorten(value)})",
            _ => null,
        };
    }

    private static bool HasFileProperty(string value) =>
        value.Split(',').Any(p => p.StartsWith("file=", StringComparison.Ordinal) || p.StartsWith("path=", StringComparison.Ordinal) ||
            p.StartsWith("romfile=", StringComparison.Ordinal) || p.StartsWith("script=", StringComparison.Ordinal) ||
            p.StartsWith("mem-path=", StringComparison.Ordinal) || p.StartsWith("chardev=", StringComparison.Ordinal));

    private static string? CheckBootFile(string option, string value, HostWorkerOptions host)
    {
        if (!Path.IsPathRooted(value) || value.Contains(',') || Path.GetFullPath(value) != value)
            return $"{option} '{Shorten(value)}' must be an absolute, normalised path";
        bool inside = host.BootFileDirectories.Any(d => value.StartsWith(Path.TrimEndingDirectorySeparator(d) + "/", StringComparison.Ordinal));
        return inside ? null : $"{option} '{value}' is outside the host's boot file directories (Host:BootFileDirectories: {string.Join(", ", host.BootFileDirectories)})";
    }

    /// <summary>The memory size -m gives (256, 256M, 2G, size=256M), or null when there is no -m.</summary>
    public static long? MemoryBytes(IReadOnlyList<string> arguments)
    {
        int at = arguments.ToList().IndexOf("-m");
        if (at < 0 || at + 1 >= arguments.Count)
            return null;
        string text = arguments[at + 1].Split(',')[0];
        if (text.StartsWith("size=", StringComparison.Ordinal))
            text = text["size=".Length..];
        long unit = 1024 * 1024;
        char last = text.Length > 0 ? char.ToUpperInvariant(text[^1]) : ' ';
        if (last is 'K' or 'M' or 'G' or 'T')
        {
            unit = last switch { 'K' => 1024L, 'M' => 1024L * 1024, 'G' => 1024L * 1024 * 1024, _ => 1024L * 1024 * 1024 * 1024 };
            text = text[..^1];
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long count) && count is > 0 and < 1L << 30 ? count * unit : -1;
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
