using System.Collections.Concurrent;
using System.Reflection;
using MassTransit;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>A publish endpoint without a bus: it keeps what is published, in order (a proxy, so every overload lands here).</summary>
public class PublishedEvents : DispatchProxy
{
    public ConcurrentQueue<object> Messages { get; } = new();

    public static PublishedEvents Create(out Func<IPublishEndpoint> bus)
    {
        var endpoint = DispatchProxy.Create<IPublishEndpoint, PublishedEvents>();
        bus = () => endpoint;
        return (PublishedEvents)(object)endpoint;
    }

    /// <summary>The messages of one migration (those with that MigrationId).</summary>
    public IReadOnlyList<object> Of(Guid migrationId) =>
        Messages.Where(m => m.GetType().GetProperty("MigrationId")?.GetValue(m) is Guid id && id == migrationId).ToArray();

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (targetMethod?.Name == nameof(IPublishEndpoint.Publish))
            Messages.Enqueue(args![0]!);
        return targetMethod?.ReturnType == typeof(Task) ? Task.CompletedTask : null;
    }
}
