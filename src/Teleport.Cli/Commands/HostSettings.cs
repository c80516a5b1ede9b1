using System.ComponentModel;
using Spectre.Console.Cli;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport host</c>. Every flag overrides the same key of the "Host" section read from --config and
/// from TELEPORT_HOST__KEY environment variables (e.g. TELEPORT_HOST__VMS__vm42__QMPSOCKET).
/// </summary>
public sealed class HostSettings : GlobalSettings
{
    [CommandOption("--config <FILE>")]
    [Description("JSON settings file: { \"Host\": { \"HostId\": ..., \"Vms\": { \"vm42\": { \"QmpSocket\": ..., \"DiskListen\": ..., \"StorageId\": ..., \"Upstream\": ..., \"Export\": ... } } } }.")]
    public string? ConfigFile { get; init; }

    [CommandOption("--id <HOST>")]
    [Description("This host worker's id; commands arrive on the queue teleport-host-HOST.")]
    public string? Id { get; init; }

    [CommandOption("--bus <BUS>")]
    [Description("'memory' (default) or rabbitmq://user:pass@HOST:PORT/ (amqp:// works too).")]
    public string? Bus { get; init; }

    [CommandOption("--vm <SPEC>")]
    [Description("A VM (repeatable): VMID,qmp=PATH,listen=unix:/run/x.sock,storage=ID,upstream=HOST:PORT,export=NAME.")]
    public string[] Vms { get; init; } = [];

    /// <summary>The flags given, as configuration keys.</summary>
    /// <exception cref="UserInputException">A malformed --vm.</exception>
    public IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>();
        if (Id is not null)
            keys["Host:HostId"] = Id;
        if (Bus is not null)
            keys["Host:Bus"] = Bus;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string spec in Vms)
            HostVmSpec.AddTo(keys, spec, seen);
        return keys;
    }
}
