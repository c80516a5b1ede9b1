using System.Diagnostics;
using System.Globalization;

namespace Teleport.Testing;

/// <summary>
/// The three-node RabbitMQ cluster on 127.0.0.1 that infra/test.d/12-rabbitmq-cluster.sh forms in the background
/// (nodes 1, 2 and 3). Its absence or a failed start fails the test, never skips it.
/// </summary>
public static class TestCluster
{
    public const string Variable = "TELEPORT_RABBITMQ_CLUSTER";

    private const string Hook = "12-rabbitmq-cluster.sh (a three-node RabbitMQ cluster)";

    private static string Directory => TestEnvironment.Require($"{Variable}_DIR", Hook, file: false);

    /// <summary>Waits until the hook has formed the cluster and created the role users; throws with its log if it could not.</summary>
    public static async Task WaitUntilFormedAsync(TimeSpan timeout)
    {
        string directory = Directory;
        var until = DateTime.UtcNow + timeout;
        while (!File.Exists(Path.Combine(directory, "ready")))
        {
            if (File.Exists(Path.Combine(directory, "failed")) || !System.IO.Directory.Exists(directory) || DateTime.UtcNow > until)
            {
                string log = Path.Combine(directory, "boot.log");
                throw new InvalidOperationException(
                    $"the RabbitMQ cluster did not form (hook {Hook}): {(File.Exists(log) ? await File.ReadAllTextAsync(log) : "no boot log")}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>
    /// The cluster as the role's own user (orchestrator, storage, host or operator) with <c>nodes=</c> naming all three:
    /// node <paramref name="first"/> first (the one the client connects to), then the others in order.
    /// </summary>
    public static string For(string role, int first = 1)
    {
        var address = new Uri(TestEnvironment.Require($"{Variable}_{role.ToUpperInvariant()}", Hook, file: false));
        string[] nodes = [$"{address.Host}:{address.Port}", .. address.Query["?nodes=".Length..].Split(',')];
        string[] order = [nodes[first - 1], .. nodes.Where((_, i) => i != first - 1)];
        return $"amqp://{address.UserInfo}@{order[0]}/?nodes={string.Join(',', order[1..])}";
    }

    /// <summary>SIGKILL to node <paramref name="node"/>'s Erlang VM: no shutdown, its connections drop at once.</summary>
    public static void Kill(int node)
    {
        int pid = int.Parse(File.ReadAllText(Path.Combine(Directory, $"n{node}", "broker.pid")).Trim(), CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill();
        process.WaitForExit();
    }

    /// <summary>Runs rabbitmqctl against node <paramref name="node"/>; its output, or an error with it.</summary>
    public static async Task<string> CtlAsync(int node, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(Directory, "ctl")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(node.ToString(CultureInfo.InvariantCulture));
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot run the cluster's ctl");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl {string.Join(' ', args)} on node {node}: exit {process.ExitCode}: {await stderr}{await stdout}");
        return await stdout;
    }

    /// <summary>rabbitmqctl list_queues NAME COLUMNS... on node <paramref name="node"/>: each queue's columns by its name.</summary>
    public static async Task<Dictionary<string, string[]>> QueuesAsync(int node, params string[] columns)
    {
        string output = await CtlAsync(node, ["-q", "list_queues", "--no-table-headers", "name", .. columns]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(fields => fields[0], fields => fields[1..]);
    }
}
