namespace Teleport.Contracts;

/// <summary>Command to a storage worker: stop exporting the volume VolumeId and delete it.</summary>
/// <remarks>Refused (VolumeOperationFailed) while a migration or an NBD client uses the volume; a missing volume is acknowledged with Existed = false.</remarks>
public sealed record DeleteVolume(Guid RequestId, string StorageId, string VolumeId);
