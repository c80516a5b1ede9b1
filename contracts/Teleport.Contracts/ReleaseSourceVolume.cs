namespace Teleport.Contracts;

/// <summary>
/// Command from the saga to the source storage worker once a migration succeeded: the destination's volume is
/// authoritative, so the source stops serving its old volume and, within its retention settings, keeps it as a retained
/// copy (indexed, not exported, read-only) a later move back rebuilds unchanged blocks from.
/// </summary>
/// <remarks>The worker acts only when its own record says it sent VolumeId for this migration and attempt and the transfer completed.</remarks>
public sealed record ReleaseSourceVolume(Guid MigrationId, string VolumeId, string StorageId, int Attempt = 1);
