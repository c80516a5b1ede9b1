using Teleport.Host.Hypervisor;

namespace Teleport.Host.Worker;

/// <summary>One VM on this host (section <c>Host:Vms:&lt;vmId&gt;</c>): how to control it and where its disk path leads.</summary>
public sealed class HostVmOptions
{
    /// <summary>Path of the VM's QMP unix socket (<c>-qmp unix:PATH,server=on,wait=off</c>); not needed with <see cref="UseHypervisor"/>.</summary>
    public string? QmpSocket { get; set; }

    /// <summary>Where the path switcher listens for the VM's NBD client: <c>unix:/path</c> or <c>ADDR:PORT</c>.</summary>
    public string DiskListen { get; set; } = "";

    /// <summary>The storage worker the disk is on before any migration.</summary>
    public string StorageId { get; set; } = "";

    /// <summary>That storage worker's NBD endpoint (<c>HOST:PORT</c> or <c>unix:/path</c>).</summary>
    public string Upstream { get; set; } = "";

    /// <summary>The export (volume) name there; the VM asks the path switcher for the same name.</summary>
    public string Export { get; set; } = "";

    /// <summary>
    /// A JSON file with the VM's QEMU definition for whole-VM moves: <c>{ "arguments": [...], "diskNodeName": "disk0" }</c>
    /// (machine and devices only; see docs/operations.md). Read on each DescribeVm, so an edit needs no restart.
    /// </summary>
    public string? DefinitionFile { get; set; }

    /// <summary>The definition of a VM that arrived by a whole-VM move (set by the host worker, not configured).</summary>
    public Teleport.Contracts.VmDefinition? Definition { get; set; }

    /// <summary>A hypervisor the caller supplied instead of QMP (an in-process VM); the worker does not dispose it.</summary>
    public IHypervisor? Hypervisor { get; private set; }

    /// <summary>Controls this VM through <paramref name="hypervisor"/> instead of a QMP socket.</summary>
    public HostVmOptions UseHypervisor(IHypervisor hypervisor)
    {
        Hypervisor = hypervisor ?? throw new ArgumentNullException(nameof(hypervisor));
        return this;
    }

    /// <exception cref="ArgumentException">Names the first bad setting.</exception>
    public void Validate(string vmId)
    {
        string prefix = $"Host:Vms:{vmId}";
        if (!HostWorkerOptions.IsSafeId(vmId))
            throw new ArgumentException($"VM id '{vmId}' must be 1-128 letters, digits, '.', '_' or '-'");
        if (Hypervisor is null && string.IsNullOrWhiteSpace(QmpSocket))
            throw new ArgumentException($"{prefix}:QmpSocket is required (the path of the VM's QMP unix socket)");
        if (QmpSocket is not null && !Path.IsPathRooted(QmpSocket))
            throw new ArgumentException($"{prefix}:QmpSocket '{QmpSocket}' must be an absolute path");
        _ = NbdAddress.Parse(DiskListen, $"{prefix}:DiskListen");
        if (!HostWorkerOptions.IsSafeId(StorageId))
            throw new ArgumentException($"{prefix}:StorageId '{StorageId}' must be 1-128 letters, digits, '.', '_' or '-'");
        _ = NbdAddress.Parse(Upstream, $"{prefix}:Upstream");
        if (DefinitionFile is not null && !Path.IsPathRooted(DefinitionFile))
            throw new ArgumentException($"{prefix}:DefinitionFile '{DefinitionFile}' must be an absolute path");
        if (string.IsNullOrWhiteSpace(Export) || Export.Length > 4096)
            throw new ArgumentException($"{prefix}:Export is required (the volume's export name on the storage worker)");
    }
}
