using MassTransit;
using Teleport.Contracts;
using Teleport.Messaging;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Starts migrations by sending MigrationRequested to one orchestrator's queue (as `teleport migrate
/// --orchestrator-queue` does): a published request would reach every orchestrator of every test on the shared broker.
/// </summary>
public static class OrchestratorRequests
{
    public static async Task<Guid> SendAsync(IBus bus, string orchestratorQueue, string vm, string volume, string source, string destination,
        string host, MigrationOptions? options = null, CommandAddresses? addresses = null)
    {
        var id = Guid.NewGuid();
        var endpoint = await bus.GetSendEndpoint((addresses ?? CommandAddresses.Classic).For(orchestratorQueue));
        await endpoint.Send(new MigrationRequested(id, vm, volume, source, destination, host, options ?? new MigrationOptions(), DateTimeOffset.UtcNow));
        return id;
    }
}
