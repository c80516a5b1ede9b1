namespace Teleport.Messaging;

/// <summary>
/// Hands a message to the broker again until it takes it. A publish whose confirm went down with its connection (a
/// broker node lost, a broker restarted) may neither complete nor fail (rabbitmq-dotnet-client issue 1930, seen with
/// MassTransit 8.5 on a three-node cluster here): each attempt is bounded and tried again. At least once: the saga
/// answers a repeated event as the first.
/// </summary>
public static class PublishRetry
{
    /// <summary>How long one attempt may take before it is given up and tried again.</summary>
    public static readonly TimeSpan AttemptWait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LongestDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="attempt"/> until it completes; false when <paramref name="giveUpAfter"/> passed first
    /// (<see cref="Timeout.InfiniteTimeSpan"/>: never). <paramref name="retrying"/> hears of each failed attempt and the delay before the next.
    /// </summary>
    public static async Task<bool> UntilTakenAsync(Func<Task> attempt, TimeSpan giveUpAfter, TimeProvider clock, Action<Exception, TimeSpan> retrying,
        CancellationToken stopping)
    {
        long started = clock.GetTimestamp();
        for (var delay = FirstDelay; ; delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestDelay.Ticks)))
        {
            try
            {
                await attempt().WaitAsync(AttemptWait, clock, stopping).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                if (giveUpAfter != Timeout.InfiniteTimeSpan && clock.GetElapsedTime(started) + delay > giveUpAfter)
                    return false;
                retrying(e, delay);
                await Task.Delay(delay, clock, stopping).ConfigureAwait(false);
            }
        }
    }
}
