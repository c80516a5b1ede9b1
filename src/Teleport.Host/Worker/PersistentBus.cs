using Microsoft.Extensions.Logging;
using Teleport.Messaging;

namespace Teleport.Host.Worker;

/// <summary>
/// Hands the host's own reports and commands to the broker, which may be the very thing that is down: each report is
/// tried again (<see cref="PublishRetry"/>) until the broker takes it or the worker stops; a command is tried once.
/// Nothing here ever waits on the VM.
/// </summary>
internal sealed class PersistentBus(TimeProvider clock, ILogger log)
{
    private static readonly TimeSpan CommandWait = TimeSpan.FromSeconds(30);

    /// <summary>Publishes an event (the worker's bus); null: only logged.</summary>
    public Func<object, Task>? Publish { get; set; }

    /// <summary>Sends a command to a storage worker's own queue (by its id); null: not sent.</summary>
    public Func<string, object, Task>? SendToStorage { get; set; }

    public Task PublishAsync(object message, CancellationToken stopping) =>
        Publish is { } publish ? KeepTryingAsync(() => publish(message), stopping) : Task.CompletedTask;

    /// <summary>
    /// Sends once: a command the broker refuses (the host role may lack write access to storage queues) is logged and
    /// left to the saga, which sends the same command itself.
    /// </summary>
    public async Task TrySendToStorageAsync(string storageId, object command)
    {
        if (SendToStorage is not { } send)
            return;
        try
        {
            // Bounded: a broker that is gone would keep the send waiting for its connection.
            await send(storageId, command).WaitAsync(CommandWait).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            HostWorkerLog.SendRefused(log, command.GetType().Name, storageId, e.Message);
        }
    }

    private Task KeepTryingAsync(Func<Task> attempt, CancellationToken stopping) =>
        PublishRetry.UntilTakenAsync(attempt, Timeout.InfiniteTimeSpan, clock, (e, delay) => HostWorkerLog.BusRetry(log, e.Message, delay.TotalMilliseconds), stopping);
}
