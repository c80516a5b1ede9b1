using System.Diagnostics;
using Teleport.Messaging;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>
/// The bounded, repeated publish both workers use (a publish caught in a broker node's failover may never complete; the
/// cluster failover test met one that hung the storage worker's ordered events and with them the whole migration).
/// </summary>
public sealed class PublishRetryTests
{
    [Fact]
    public async Task An_attempt_that_never_completes_is_given_up_after_its_bound_and_the_next_one_goes_through()
    {
        int attempts = 0;
        var retried = new List<string>();
        var took = Stopwatch.StartNew();

        bool taken = await PublishRetry.UntilTakenAsync(
            () => ++attempts == 1 ? new TaskCompletionSource().Task : Task.CompletedTask,
            Timeout.InfiniteTimeSpan, TimeProvider.System, (e, _) => retried.Add(e.GetType().Name), CancellationToken.None);

        Assert.True(taken);
        Assert.Equal(2, attempts);
        Assert.Equal([nameof(TimeoutException)], retried);
        Assert.True(took.Elapsed >= PublishRetry.AttemptWait, $"the hung attempt was left after {took.Elapsed}");
    }

    [Fact]
    public async Task Failing_attempts_are_tried_again_with_growing_delays_until_the_give_up_time_then_reported_as_not_taken()
    {
        int attempts = 0;
        var delays = new List<TimeSpan>();

        bool taken = await PublishRetry.UntilTakenAsync(
            () => { attempts++; throw new InvalidOperationException("broker refused"); },
            TimeSpan.FromSeconds(1), TimeProvider.System, (_, delay) => delays.Add(delay), CancellationToken.None);

        Assert.False(taken);
        // 200 + 400 ms fit in the second, the next 800 ms would not.
        Assert.Equal([TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400)], delays);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Stopping_ends_the_retries_with_a_cancellation()
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => PublishRetry.UntilTakenAsync(
            () => Task.FromException(new InvalidOperationException("broker down")),
            Timeout.InfiniteTimeSpan, TimeProvider.System, (_, _) => { }, stopping.Token));
    }
}
