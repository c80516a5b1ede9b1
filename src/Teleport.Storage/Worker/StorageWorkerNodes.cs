namespace Teleport.Storage.Worker;

/// <summary>The storage worker nodes of one container, by StorageId (what the bus endpoints bind their consumers to).</summary>
public sealed class StorageWorkerNodes(IEnumerable<StorageWorkerNodeRegistration> registrations, IServiceProvider services)
{
    private readonly Dictionary<string, Lazy<StorageWorkerNode>> _nodes = registrations.ToDictionary(
        r => r.Options.StorageId,
        r => new Lazy<StorageWorkerNode>(() => new StorageWorkerNode(r.Options, services)),
        StringComparer.Ordinal);

    public IReadOnlyCollection<string> Ids => _nodes.Keys;

    public StorageWorkerNode Get(string storageId) =>
        _nodes.TryGetValue(storageId, out var node)
            ? node.Value
            : throw new InvalidOperationException($"no storage worker '{storageId}' is registered (AddStorageWorkerNode)");
}
