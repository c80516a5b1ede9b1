namespace Teleport.Storage.Retention;

/// <summary>
/// A volume this worker moved away, kept read-only and unexported so a move back rebuilds its unchanged blocks from
/// the index. Bytes is the volume's apparent size (what the space budget counts).
/// </summary>
public sealed record RetainedCopy(string VolumeId, Guid MigrationId, long Bytes, DateTimeOffset RetainedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The copy's file name stem in the retained directory: one copy per volume and migration.</summary>
    public string Stem => $"{VolumeId}.{MigrationId:N}";
}
