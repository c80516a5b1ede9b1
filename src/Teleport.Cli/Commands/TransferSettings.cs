namespace Teleport.Cli.Commands;

/// <summary>Options both ends of a standalone (cold) migration take.</summary>
public class TransferSettings : JsonSettings
{
    [CommandOption("--volume <PATH>")]
    [Description("The volume: a file or block device.")]
    public string Volume { get; init; } = "";

    [CommandOption("--secret-file <FILE>")]
    [Description("File holding the migration secret (at least 16 bytes; the same file on both sides). It never crosses the wire.")]
    public string SecretFile { get; init; } = "";

    [CommandOption("--migration-id <GUID>")]
    [Description("Migration id both sides agree on (default: derived from the secret).")]
    public Guid? MigrationId { get; init; }

    public override Spectre.Console.ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Volume))
            return Spectre.Console.ValidationResult.Error("--volume PATH is required");
        if (string.IsNullOrWhiteSpace(SecretFile))
            return Spectre.Console.ValidationResult.Error("--secret-file FILE is required");
        return base.Validate();
    }
}

public sealed class SendSettings : TransferSettings
{
    [CommandOption("--to <HOST:PORT>")]
    [Description("The receiving side's data-channel endpoint.")]
    public string To { get; init; } = "";

    [CommandOption("--bandwidth <RATE>")]
    [Description("Cap on the bytes put on the wire, e.g. 100mbit, 1gbit, 12.5MB/s (default: unlimited).")]
    [DefaultValue("unlimited")]
    public string Bandwidth { get; init; } = "unlimited";

    [CommandOption("--block-size <SIZE>")]
    [Description("Block size: a power of two from 512 to 64k.")]
    [DefaultValue("4096")]
    public string BlockSize { get; init; } = "4096";

    [CommandOption("--compression-level <N>")]
    [Description("zstd level for block data: 0 off, 1 to 22. Default: adaptive (starts from --bandwidth, moves so compression never holds up the link).")]
    public int? CompressionLevel { get; init; }

    [CommandOption("--tls-pin <SHA256>")]
    [Description("Use TLS and accept only the receiver certificate with this SHA-256 (hex, as `teleport receive` prints it).")]
    public string? TlsPin { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(To) ? Spectre.Console.ValidationResult.Error("--to HOST:PORT is required") : base.Validate();
}

public sealed class ReceiveSettings : TransferSettings
{
    [CommandOption("--listen <ADDR:PORT>")]
    [Description("Where to accept the sender, e.g. 0.0.0.0:7000.")]
    public string Listen { get; init; } = "";

    [CommandOption("--size <BYTES>")]
    [Description("Expected volume size; a sender with another size is refused.")]
    public string? Size { get; init; }

    [CommandOption("--index <DIR>")]
    [Description("Content index to rebuild blocks from (see `teleport index build`); received blocks are added to it.")]
    public string? Index { get; init; }

    [CommandOption("--tls-cert <PFX>")]
    [Description("Use TLS with this certificate (PKCS#12 with its key); its SHA-256 is printed for the sender's --tls-pin.")]
    public string? TlsCertificate { get; init; }

    [CommandOption("--verify-by-reading")]
    [Description("Verify by re-reading the whole received volume (stronger; costs a full read at the end).")]
    public bool VerifyByReading { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Listen) ? Spectre.Console.ValidationResult.Error("--listen ADDR:PORT is required") : base.Validate();
}
