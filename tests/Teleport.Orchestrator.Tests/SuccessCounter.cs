using System.Collections.Concurrent;
using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator.Tests;

/// <summary>Another system listening for MigrationSucceeded: counts them per migration.</summary>
public sealed class SuccessCounter : IConsumer<MigrationSucceeded>
{
    public ConcurrentDictionary<Guid, int> Succeeded { get; } = new();

    public Task Consume(ConsumeContext<MigrationSucceeded> context)
    {
        Succeeded.AddOrUpdate(context.Message.MigrationId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
