using System.Collections.Concurrent;
using MassTransit;
using Teleport.Contracts;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Another system listening for MigrationSucceeded: counts them per migration, only those published from the
/// orchestrators' queue under test (other test runs on the same broker have orchestrators of their own, and every
/// orchestrator consumes every published MigrationRequested).
/// </summary>
public sealed class SuccessCounter(string orchestratorQueue) : IConsumer<MigrationSucceeded>
{
    public ConcurrentDictionary<Guid, int> Succeeded { get; } = new();

    public Task Consume(ConsumeContext<MigrationSucceeded> context)
    {
        if (context.SourceAddress?.AbsolutePath.TrimEnd('/').EndsWith("/" + orchestratorQueue, StringComparison.Ordinal) == true)
            Succeeded.AddOrUpdate(context.Message.MigrationId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}
