namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport host</c>: the "Host" section, e.g. TELEPORT_HOST__VMS__vm42__QMPSOCKET. Its --config file
/// looks like { "Host": { "HostId": ..., "Vms": { "vm42": { "QmpSocket": ..., "DiskListen": ..., "StorageId": ...,
/// "Upstream": ..., "Export": ... } } } }.
/// </summary>
public sealed class HostSettings : RoleSettings
{
    [CommandOption("--id <HOST>")]
    [Description("This host worker's id; commands arrive on the queue teleport-host-HOST.")]
    public string? Id { get; init; }

    [CommandOption("--vm <SPEC>")]
    [Description("A VM (repeatable): VMID,qmp=PATH,listen=unix:/run/x.sock,storage=ID,upstream=HOST:PORT,export=NAME.")]
    public string[] Vms { get; init; } = [];

    protected override string Section => "Host";

    protected override IEnumerable<(string Key, string? Value)> Flags() => [("HostId", Id)];

    /// <inheritdoc/>
    /// <exception cref="UserInputException">A malformed --vm.</exception>
    public override IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>(base.Overrides());
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string spec in Vms)
            HostVmSpec.AddTo(keys, spec, seen);
        return keys;
    }
}
