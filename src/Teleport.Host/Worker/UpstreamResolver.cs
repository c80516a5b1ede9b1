namespace Teleport.Host.Worker;

/// <summary>
/// Which NBD endpoint a storage id stands for on this host: those of <c>Host:Storages</c>, and each VM's own
/// storage (<c>Host:Vms:&lt;vm&gt;:StorageId</c> at its <c>Upstream</c>). Anyone who can publish on the bus may send
/// a SwitchTarget, so the endpoint in the message is never connected to: an unknown storage id is refused, and a
/// known one leads where the configuration says.
/// </summary>
public sealed class UpstreamResolver
{
    private readonly Dictionary<string, NbdAddress> _storages = new(StringComparer.Ordinal);

    /// <summary>The options must be valid (<see cref="HostWorkerOptions.Validate"/>).</summary>
    public UpstreamResolver(HostWorkerOptions options)
    {
        foreach (var vm in options.Vms.Values)
            _storages.TryAdd(vm.StorageId, NbdAddress.Parse(vm.Upstream, "Upstream"));
        // Host:Storages is the explicit list: it wins over a VM's starting upstream.
        foreach (var (id, storage) in options.Storages)
            _storages[id] = NbdAddress.Parse(storage.Nbd, $"Host:Storages:{id}:Nbd");
    }

    /// <summary>
    /// The configured endpoint of <paramref name="storageId"/>, or false with the reason to report. The endpoint
    /// <paramref name="offered"/> by the message only shows up in that reason.
    /// </summary>
    public bool TryResolve(string storageId, string? offered, out NbdAddress address, out string problem)
    {
        if (_storages.TryGetValue(storageId, out address!))
        {
            problem = "";
            return true;
        }

        problem = $"storage '{storageId}' is not configured on this host (Host:Storages:{storageId}:Nbd); " +
            $"the endpoint '{offered}' the command names is never used on its own";
        return false;
    }

    /// <summary>True when <paramref name="offered"/> is not what the configuration says for the storage (worth a log line).</summary>
    public static bool Differs(NbdAddress configured, string? offered) => !string.Equals(configured.Text, offered, StringComparison.Ordinal);
}
