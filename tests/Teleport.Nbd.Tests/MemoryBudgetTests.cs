using Teleport.Nbd.Server;

namespace Teleport.Nbd.Tests;

/// <summary>The server-wide memory budget on its own: taking, waiting in turn, cancelling, and its bound under contention.</summary>
public sealed class MemoryBudgetTests
{
    [Fact]
    public async Task Bytes_within_the_budget_are_taken_at_once_and_given_back()
    {
        var budget = new NbdMemoryBudget(8);
        var first = budget.AcquireAsync(3, CancellationToken.None);
        var second = budget.AcquireAsync(5, CancellationToken.None);
        Assert.True(first.IsCompletedSuccessfully && second.IsCompletedSuccessfully);
        Assert.Equal(8, budget.InUse);

        budget.Release(3);
        budget.Release(5);
        Assert.Equal((0, 8L), (budget.InUse, budget.HighWater));
        await budget.AcquireAsync(8, CancellationToken.None);
    }

    [Fact]
    public async Task A_request_larger_than_what_is_left_waits_until_bytes_come_back()
    {
        var budget = new NbdMemoryBudget(8);
        await budget.AcquireAsync(6, CancellationToken.None);
        var waiting = budget.AcquireAsync(4, CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        Assert.Equal((1, 6L), (budget.Waiting, budget.InUse));

        budget.Release(6);
        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, 4L), (budget.Waiting, budget.InUse));
    }

    [Fact]
    public async Task Waiters_are_served_in_turn_so_small_requests_never_starve_a_large_one()
    {
        var budget = new NbdMemoryBudget(8);
        await budget.AcquireAsync(6, CancellationToken.None);
        var large = budget.AcquireAsync(8, CancellationToken.None).AsTask();
        // Two bytes are free, but the large request came first.
        var small = budget.AcquireAsync(1, CancellationToken.None).AsTask();
        Assert.False(small.IsCompleted);

        budget.Release(6);
        await large.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(small.IsCompleted);
        Assert.Equal(8, budget.InUse);

        budget.Release(8);
        await small.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, budget.InUse);
    }

    [Fact]
    public async Task A_cancelled_wait_owns_nothing_and_lets_those_behind_it_in()
    {
        var budget = new NbdMemoryBudget(8);
        await budget.AcquireAsync(6, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var large = budget.AcquireAsync(8, cancel.Token).AsTask();
        var small = budget.AcquireAsync(2, CancellationToken.None).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => large);
        await small.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((0, 8L), (budget.Waiting, budget.InUse));

        budget.Release(6);
        budget.Release(2);
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public void More_than_the_whole_budget_is_refused_rather_than_waited_for_forever()
    {
        var budget = new NbdMemoryBudget(8);
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.AcquireAsync(9, CancellationToken.None));
        Assert.Equal((0, 0L), (budget.Waiting, budget.InUse));
    }

    [Fact]
    public void A_pooled_buffer_costs_its_power_of_two()
    {
        Assert.Equal(16, NbdMemoryBudget.CostOf(1));
        Assert.Equal(4096, NbdMemoryBudget.CostOf(4096));
        Assert.Equal(512 * 1024, NbdMemoryBudget.CostOf(NbdReadReply.BufferLength));
        Assert.Equal(32L << 20, NbdMemoryBudget.CostOf(32 << 20));
    }

    [Fact]
    public async Task Buffers_are_reused_and_kept_ones_make_room_for_other_sizes()
    {
        var budget = new NbdMemoryBudget(1 << 20);
        byte[] large = await budget.RentAsync(1 << 20, CancellationToken.None);
        budget.Return(large);
        Assert.Same(large, await budget.RentAsync(700_000, CancellationToken.None));
        budget.Return(large);
        Assert.Equal((1L << 20, 0L), (budget.Kept, budget.InUse));

        // Another size: the kept megabyte is let go, so kept and used bytes stay within the budget.
        byte[] small = await budget.RentAsync(4096, CancellationToken.None);
        Assert.Equal(4096, small.Length);
        Assert.Equal((0L, 4096L), (budget.Kept, budget.InUse));
        budget.Return(small);
        Assert.Equal((4096L, 0L), (budget.Kept, budget.InUse));
    }

    [Fact]
    public async Task Many_concurrent_takers_never_hold_more_than_the_budget()
    {
        const long capacity = 1 << 20;
        var budget = new NbdMemoryBudget(capacity);
        long overdrawn = 0;
        long held = 0;
        var takers = Enumerable.Range(0, 16).Select(seed => Task.Run(async () =>
        {
            var random = new Random(seed);
            for (int i = 0; i < 300; i++)
            {
                long bytes = random.NextInt64(1, capacity + 1);
                await budget.AcquireAsync(bytes, CancellationToken.None);
                // Counted independently of the budget's own bookkeeping.
                if (Interlocked.Add(ref held, bytes) > capacity)
                    Interlocked.Increment(ref overdrawn);
                await Task.Yield();
                Interlocked.Add(ref held, -bytes);
                budget.Release(bytes);
            }
        })).ToArray();

        await Task.WhenAll(takers).WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(0, Interlocked.Read(ref overdrawn));
        Assert.InRange(budget.HighWater, capacity / 2, capacity);
        Assert.Equal((0, 0L), (budget.Waiting, budget.InUse));
    }
}
