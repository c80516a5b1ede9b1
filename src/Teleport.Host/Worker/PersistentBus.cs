using Microsoft.Extensions.Logging;

namespace Teleport.Host.Worker;

/// <summary>
/// Hands the host's own reports and commands to the broker, which may be the very thing that is down: each message is
/// tried again with a growing delay until the broker takes it or the worker stops. Nothing here ever waits on the VM.
/// </summary>
internal sealed class PersistentBus(TimeProvider clock, ILogger log)
{
    /// <summary>Publishes an event (the worker's bus); null: only logged.</summary>
    public Func<object, Task>? Publish { get; set; }

    /// <summary>Sends a command to a storage worker's own queue (by its id); null: not sent.</summary>
    public Func<string, object, Task>? SendToStorage { get; set; }

    public Task PublishAsync(object message, CancellationToken stopping) =>
        Publish is { } publish ? KeepTryingAsync(() => publish(message), stopping) : Task.CompletedTask;

    public Task SendToStorageAsync(string storageId, object command, CancellationToken stopping) =>
        SendToStorage is { } send ? KeepTryingAsync(() => send(storageId, command), stopping) : Task.CompletedTask;

    private async Task KeepTryingAsync(Func<Task> attempt, CancellationToken stopping)
    {
        for (var delay = TimeSpan.FromMilliseconds(200); ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks)))
        {
            try
            {
                await attempt().ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                HostWorkerLog.BusRetry(log, e.Message, delay.TotalMilliseconds);
                await Task.Delay(delay, clock, stopping).ConfigureAwait(false);
            }
        }
    }
}
