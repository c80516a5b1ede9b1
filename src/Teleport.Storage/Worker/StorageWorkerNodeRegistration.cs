namespace Teleport.Storage.Worker;

/// <summary>One AddStorageWorkerNode call: the options of a node the container will create.</summary>
public sealed record StorageWorkerNodeRegistration(StorageWorkerOptions Options);
