namespace Teleport.Transfer;

/// <summary>What both ends of a migration's data channel are given: which migration, its secret and the volume.</summary>
public abstract record TransferSessionOptions
{
    public required Guid MigrationId { get; init; }

    /// <summary>The per-migration secret (at least 16 bytes); both sides prove they know it, it is never sent. Unused (may be empty) with mutual TLS.</summary>
    public required byte[] Secret { get; init; }

    /// <summary>
    /// The volume (file or block device): the source reads it while the VM keeps writing it; the destination builds
    /// it, created or resized to the source's size (a device must be large enough).
    /// </summary>
    public required string VolumePath { get; init; }

    public TransferTls? Tls { get; init; }

    public ITransferObserver? Observer { get; init; }
}
