namespace Teleport.Contracts;

/// <summary>Event from a storage worker: the volume is no longer exported and its file is gone (Existed = false: there was none).</summary>
public sealed record VolumeDeleted(Guid RequestId, string StorageId, string VolumeId, bool Existed, DateTimeOffset DeletedAt);
