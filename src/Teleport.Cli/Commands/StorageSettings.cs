using System.ComponentModel;
using Spectre.Console.Cli;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Commands;

/// <summary>
/// Options of <c>teleport storage</c>. Every flag overrides the same key of the "Storage" section read from
/// --config and from TELEPORT_STORAGE__KEY environment variables.
/// </summary>
public sealed class StorageSettings : GlobalSettings
{
    [CommandOption("--config <FILE>")]
    [Description("JSON settings file (appsettings style: { \"Storage\": { \"StorageId\": ..., \"VolumeDirectory\": ... } }).")]
    public string? ConfigFile { get; init; }

    [CommandOption("--id <ID>")]
    [Description("This storage worker's id; commands arrive on the queue teleport-storage-ID.")]
    public string? Id { get; init; }

    [CommandOption("--volumes <DIR>")]
    [Description("Volume directory: every NAME.img in it is served over NBD as NAME.")]
    public string? Volumes { get; init; }

    [CommandOption("--nbd-listen <ADDR:PORT>")]
    [Description("Where VM hosts reach the NBD exports (default 0.0.0.0:10809).")]
    public string? NbdListen { get; init; }

    [CommandOption("--data-listen <ADDR:PORT>")]
    [Description("Where incoming migrations' data channels listen (default 0.0.0.0:0: a free port per migration).")]
    public string? DataListen { get; init; }

    [CommandOption("--advertise <HOST>")]
    [Description("Host name or address the peer storage worker uses to reach this one (default: the data listen address, or this host's name).")]
    public string? Advertise { get; init; }

    [CommandOption("--index <DIR>")]
    [Description("Content index incoming migrations rebuild blocks from (see teleport index build).")]
    public string? Index { get; init; }

    [CommandOption("--bus <BUS>")]
    [Description("'memory' (default) or rabbitmq://user:pass@HOST:PORT/ (amqp:// works too).")]
    public string? Bus { get; init; }

    /// <summary>The flags given, as configuration keys.</summary>
    public IReadOnlyDictionary<string, string?> Overrides()
    {
        var keys = new Dictionary<string, string?>();
        void Put(string key, string? value)
        {
            if (value is not null)
                keys[$"Storage:{key}"] = value;
        }

        Put("StorageId", Id);
        Put("VolumeDirectory", Volumes);
        Put("NbdListen", NbdListen);
        Put("DataListen", DataListen);
        Put("AdvertiseHost", Advertise);
        Put("IndexDirectory", Index);
        Put("Bus", Bus);
        return keys;
    }
}
