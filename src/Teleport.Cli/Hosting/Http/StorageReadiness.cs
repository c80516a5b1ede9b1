using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Teleport.Storage.Worker;

namespace Teleport.Cli.Hosting.Http;

/// <summary>
/// A storage worker is ready when its volume directory takes a new file (volumes are created there) and its NBD server
/// listens and accepts.
/// </summary>
public static class StorageReadiness
{
    public static void Add(IHealthChecksBuilder checks)
    {
        checks.AddReadiness("volumes", (services, _) => Task.FromResult(Volumes(Nodes(services))));
        checks.AddReadiness("nbd", (services, _) => Task.FromResult(Nbd(Nodes(services))));
    }

    private static IEnumerable<StorageWorkerNode> Nodes(IServiceProvider services)
    {
        var nodes = services.GetRequiredService<StorageWorkerNodes>();
        return nodes.Ids.Select(nodes.Get);
    }

    private static HealthCheckResult Volumes(IEnumerable<StorageWorkerNode> nodes)
    {
        var data = new Dictionary<string, object>();
        var problems = new List<string>();
        foreach (var node in nodes)
        {
            string directory = node.Options.VolumeDirectory;
            data[node.StorageId] = directory;
            try
            {
                // Created and deleted at once: proves the directory exists and is writable without leaving anything.
                using var probe = new FileStream(Path.Combine(directory, $".teleport-ready-{Guid.NewGuid():N}"), FileMode.CreateNew,
                    FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{node.StorageId}: volume directory {directory} is not usable: {e.Message}");
            }
        }

        return Result(problems, data, "volume directories usable");
    }

    private static HealthCheckResult Nbd(IEnumerable<StorageWorkerNode> nodes)
    {
        var data = new Dictionary<string, object>();
        var problems = new List<string>();
        foreach (var node in nodes)
        {
            data[node.StorageId] = node.Exports.EndPoint?.ToString() ?? "not started";
            if (!node.Exports.Accepting)
                problems.Add($"{node.StorageId}: NBD is not accepting connections on {node.Options.NbdListen}");
        }

        return Result(problems, data, "NBD accepting");
    }

    internal static HealthCheckResult Result(List<string> problems, Dictionary<string, object> data, string healthy) =>
        problems.Count == 0 ? HealthCheckResult.Healthy(healthy, data) : HealthCheckResult.Unhealthy(string.Join("; ", problems), data: data);
}
