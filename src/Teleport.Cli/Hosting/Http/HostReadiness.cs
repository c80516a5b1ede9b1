using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Teleport.Host.Worker;

namespace Teleport.Cli.Hosting.Http;

/// <summary>A host worker is ready when QEMU answers on the QMP socket of every VM it serves.</summary>
public static class HostReadiness
{
    public static void Add(IHealthChecksBuilder checks, string hostId) =>
        checks.AddReadiness("qmp", (services, cancellationToken) => QmpAsync(services.GetRequiredKeyedService<HostWorkerNode>(hostId), cancellationToken));

    private static async Task<HealthCheckResult> QmpAsync(HostWorkerNode node, CancellationToken cancellationToken)
    {
        var data = new Dictionary<string, object>();
        var problems = new List<string>();
        foreach (var vm in node.Vms.Values)
        {
            try
            {
                var status = await vm.ProbeAsync(cancellationToken).ConfigureAwait(false);
                // Null: an operation holds the VM and is opening its QMP connection; it reports its own failure.
                data[vm.Id] = status?.State ?? "busy";
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                data[vm.Id] = "unreachable";
                problems.Add($"{vm.Id}: QMP {vm.Options.QmpSocket} does not answer: {e.Message}");
            }
        }

        return StorageReadiness.Result(problems, data, "QMP answers for every VM");
    }
}
