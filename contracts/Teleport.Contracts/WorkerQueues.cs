namespace Teleport.Contracts;

/// <summary>Queue names that commands are sent to: each worker consumes on a queue named after its id.</summary>
public static class WorkerQueues
{
    /// <summary>Queue of the storage worker with the given id.</summary>
    public static string Storage(string storageId) => $"teleport-storage-{storageId}";

    /// <summary>Queue of the host worker with the given id.</summary>
    public static string Host(string hostId) => $"teleport-host-{hostId}";

    /// <summary>Queue the orchestrators share.</summary>
    public const string Orchestrator = "teleport-orchestrator";
}
