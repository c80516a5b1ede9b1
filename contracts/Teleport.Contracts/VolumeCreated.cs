namespace Teleport.Contracts;

/// <summary>Event from a storage worker: the volume exists with SizeBytes and is served as ExportName at NbdEndpoint.</summary>
/// <remarks>AlreadyExisted: a repeated CreateVolume found the volume with the same size and changed nothing.</remarks>
public sealed record VolumeCreated(
    Guid RequestId,
    string StorageId,
    string VolumeId,
    long SizeBytes,
    bool AlreadyExisted,
    string NbdEndpoint,
    string ExportName,
    DateTimeOffset CreatedAt);
