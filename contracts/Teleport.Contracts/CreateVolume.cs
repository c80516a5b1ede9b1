namespace Teleport.Contracts;

/// <summary>Command to a storage worker: create the volume VolumeId of SizeBytes (sparse) and export it over NBD.</summary>
/// <remarks>Idempotent: a volume that exists with the same size is acknowledged again; another size is refused (VolumeOperationFailed).</remarks>
public sealed record CreateVolume(Guid RequestId, string StorageId, string VolumeId, long SizeBytes);
