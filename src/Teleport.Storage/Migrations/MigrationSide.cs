using Microsoft.Extensions.Logging;

namespace Teleport.Storage.Migrations;

/// <summary>What either side of a migration holds: who it is, its ordered events and the background run of its session.</summary>
internal abstract class MigrationSide(Guid migrationId, int attempt, string volumeId, OrderedPublisher events)
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Guid MigrationId { get; } = migrationId;

    public int Attempt { get; } = attempt;

    public string VolumeId { get; } = volumeId;

    public OrderedPublisher Events { get; } = events;

    public CancellationTokenSource Stop { get; } = new();

    /// <summary>Whether its session finished its work (the volume is in place), so it no longer uses the volume.</summary>
    public abstract bool Completed { get; }

    /// <summary>
    /// Runs the session in the background. Called once the side is in its registry, outside its lock; a stop asked
    /// before the run began still waits for it, since <see cref="StopAsync"/> waits for the end, not for a task.
    /// </summary>
    public void Start(Func<Task> run) => _ = Task.Run(async () =>
    {
        try
        {
            await run().ConfigureAwait(false);
        }
        finally
        {
            _ended.TrySetResult();
        }
    });

    /// <summary>Cancels the session and waits until its run ended, at most <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout, ILogger log)
    {
        await Stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _ended.Task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            log.LogWarning("A migration session did not stop within {Timeout}", timeout);
        }
    }
}
