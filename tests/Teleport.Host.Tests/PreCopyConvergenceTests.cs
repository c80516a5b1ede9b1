using Teleport.Contracts;
using Teleport.Host.Moves;

namespace Teleport.Host.Tests;

/// <summary>When the source host gives up on QEMU's memory pre-copy and starts post-copy (PreCopyConvergence).</summary>
public sealed class PreCopyConvergenceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 9, 0, 0, TimeSpan.Zero);

    private static MigrationState Pass(long pass, long remaining, string status = "active") =>
        new(status, 0, remaining, 256L << 20, 0, 0, null, null, DirtySyncCount: pass);

    [Fact]
    public void A_dirty_set_that_stops_shrinking_is_due_after_the_rounds_and_not_before()
    {
        var policy = new PreCopyConvergence(new MemoryMigrationOptions(PostCopyAfterRounds: 3), T0);
        // The bulk pass, then the first dirty pass sets the smallest; samples within one pass count once.
        Assert.Null(policy.Observe(Pass(1, 200 << 20), T0));
        Assert.Null(policy.Observe(Pass(2, 30 << 20), T0));
        Assert.Null(policy.Observe(Pass(2, 10 << 20), T0));
        Assert.Null(policy.Observe(Pass(3, 31 << 20), T0));
        // A few pages fewer than the smallest is no progress (the margin is a tenth).
        Assert.Null(policy.Observe(Pass(4, (30 << 20) - 4096), T0));
        Assert.Contains("3 passes", policy.Observe(Pass(5, 32 << 20), T0));
    }

    [Fact]
    public void A_dirty_set_that_keeps_shrinking_is_never_due_and_neither_is_anything_but_an_active_pre_copy()
    {
        var policy = new PreCopyConvergence(new MemoryMigrationOptions(PostCopyAfterRounds: 2), T0);
        long remaining = 64 << 20;
        for (int pass = 2; pass < 40; pass++, remaining = remaining * 8 / 10)
            Assert.Null(policy.Observe(Pass(pass, remaining), T0));
        Assert.Null(policy.Observe(Pass(50, 64 << 20, "pre-switchover"), T0));
        Assert.Null(policy.Observe(Pass(51, 64 << 20, "postcopy-active"), T0));
    }

    [Fact]
    public void The_budget_ends_pre_copy_and_unusable_options_fall_back_to_the_defaults()
    {
        var policy = new PreCopyConvergence(new MemoryMigrationOptions(PostCopyAfterSeconds: 30), T0);
        Assert.Null(policy.Observe(Pass(1, 200 << 20), T0.AddSeconds(29)));
        Assert.Contains("30 s", policy.Observe(Pass(1, 200 << 20), T0.AddSeconds(30)));

        var defaults = new PreCopyConvergence(new MemoryMigrationOptions(PostCopyAfterRounds: 0, PostCopyAfterSeconds: -1), T0);
        Assert.Equal((PreCopyConvergence.DefaultRounds, PreCopyConvergence.DefaultBudget), (defaults.Rounds, defaults.Budget));
    }
}
