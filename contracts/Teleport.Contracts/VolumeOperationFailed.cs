namespace Teleport.Contracts;

/// <summary>Event from a storage worker: a CreateVolume or DeleteVolume (Operation "Create" or "Delete") was refused, with the reason.</summary>
public sealed record VolumeOperationFailed(Guid RequestId, string StorageId, string VolumeId, string Operation, string Reason, DateTimeOffset FailedAt);
