namespace Teleport.Cli.Commands;

/// <summary>
/// The <c>--vm</c> shorthand of <c>teleport host</c>:
/// <c>VMID,qmp=PATH,listen=unix:/run/x.sock,storage=ID,upstream=HOST:PORT,export=NAME[,definition=FILE.json]</c>, turned into the
/// <c>Host:Vms:VMID:*</c> configuration keys (validated with the rest of the settings).
/// </summary>
public static class HostVmSpec
{
    private static readonly Dictionary<string, string> Keys = new(StringComparer.Ordinal)
    {
        ["qmp"] = "QmpSocket",
        ["listen"] = "DiskListen",
        ["storage"] = "StorageId",
        ["upstream"] = "Upstream",
        ["export"] = "Export",
        ["definition"] = "DefinitionFile",
    };

    /// <exception cref="UserInputException">Not VMID followed by key=value pairs of the known keys.</exception>
    public static void AddTo(IDictionary<string, string?> overrides, string spec, ISet<string> seen)
    {
        string[] parts = spec.Split(',');
        string vmId = parts[0].Trim();
        if (vmId.Length == 0 || vmId.Contains('='))
            throw new UserInputException($"--vm '{spec}' must start with the VM id (VMID,qmp=PATH,listen=unix:/path,storage=ID,upstream=HOST:PORT,export=NAME)");
        if (parts.Length == 1)
            throw new UserInputException($"--vm '{spec}' gives no settings: VMID,qmp=PATH,listen=unix:/path,storage=ID,upstream=HOST:PORT,export=NAME");
        if (!seen.Add(vmId))
            throw new UserInputException($"--vm names VM '{vmId}' twice");
        foreach (string part in parts.Skip(1))
        {
            int equals = part.IndexOf('=');
            string key = equals < 0 ? part : part[..equals];
            if (equals < 0 || !Keys.TryGetValue(key.Trim(), out string? setting))
                throw new UserInputException($"--vm '{spec}': '{part}' is not one of qmp=, listen=, storage=, upstream=, export=, definition=");
            overrides[$"Host:Vms:{vmId}:{setting}"] = part[(equals + 1)..];
        }
    }
}
