namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport migrate</c>.</summary>
public sealed class MigrateSettings : OperatorBusSettings
{
    [CommandOption("--vm <VM>")]
    [Description("The VM whose disk moves.")]
    public string? Vm { get; init; }

    [CommandOption("--volume <VOLUME>")]
    [Description("The volume (export name at the source storage worker).")]
    public string? Volume { get; init; }

    [CommandOption("--from <STORAGE>")]
    [Description("Source storage worker id.")]
    public string? From { get; init; }

    [CommandOption("--to <STORAGE>")]
    [Description("Destination storage worker id.")]
    public string? To { get; init; }

    [CommandOption("--host <HOST>")]
    [Description("Host worker id of the hypervisor running the VM.")]
    public string? Host { get; init; }

    [CommandOption("--to-host <HOST>")]
    [Description("Move the whole VM (memory, vCPUs, devices and disk): the host worker that starts it and runs it afterwards. Without it only the disk moves.")]
    public string? ToHost { get; init; }

    [CommandOption("--multifd")]
    [Description("With --to-host: QEMU sends the memory over several connections, zstd-compressed (for a slow link).")]
    public bool Multifd { get; init; }

    [CommandOption("--multifd-channels <N>")]
    [Description("With --multifd: how many connections (1-255, default 4).")]
    public int? MultifdChannels { get; init; }

    [CommandOption("--memory-downtime-limit <MS>")]
    [Description("With --to-host: the stop-and-copy QEMU aims for when it sends the last memory (QEMU's downtime-limit, default 300).")]
    public int? MemoryDowntimeLimit { get; init; }

    [CommandOption("--id <GUID>")]
    [Description("Migration id to use (default: a new one). Repeating a request with the same id starts nothing new.")]
    public string? Id { get; init; }

    [CommandOption("--bandwidth <RATE>")]
    [Description("Cap on the data channel: 100mbit, 1gbit, 12.5MB/s, unlimited (default: the storage worker's).")]
    public string? Bandwidth { get; init; }

    [CommandOption("--fenced")]
    [Description("Fenced cut-over: the VM resumes on the destination before verification, the blocks still on their way fenced " +
                 "(fetched first when the VM needs them); a pre-copy that cannot converge goes post-copy. With --to-host, the memory's " +
                 "switchover does not wait for the disk's verification. Needs --size.")]
    public bool Fenced { get; init; }

    [CommandOption("--size <BYTES>")]
    [Description("The volume's size (64m, 10g); the migration fails if the source's differs. Required by --fenced.")]
    public string? Size { get; init; }

    [CommandOption("--wait")]
    [Description("Follow the migration to its end with progress per phase; exit code 0 only if it succeeded.")]
    public bool Wait { get; init; }

    [CommandOption("--timeout <SECONDS>")]
    [Description("With --wait: give up waiting after this long (exit 1; the migration goes on).")]
    public double? TimeoutSeconds { get; init; }

    [CommandOption("--orchestrator-queue <QUEUE>")]
    [Description("Send the request to this orchestrator queue instead of publishing it (for one of several Teleport installations on one broker).")]
    public string? OrchestratorQueue { get; init; }
}
