using Teleport.Contracts;

namespace Teleport.Host.Moves;

/// <summary>
/// Whether QEMU's memory pre-copy has stopped converging, so the source host should start post-copy: the last
/// <see cref="Rounds"/> passes over memory (QEMU's dirty-sync-count) did not bring the dirty memory below nine tenths of
/// its smallest so far, or the pre-copy has run <see cref="Budget"/>. The disk's post-copy policy (docs/saga.md), with a
/// margin: a dirty set that hovers (a guest dirtying at about the link's rate) sets a new smallest now and then by a
/// few pages, which must not keep post-copy off.
/// </summary>
internal sealed class PreCopyConvergence
{
    public const int DefaultRounds = 5;
    public static readonly TimeSpan DefaultBudget = TimeSpan.FromMinutes(10);

    private readonly DateTimeOffset _started;
    private long _round = -1;
    private long _smallest = long.MaxValue;
    private long _roundsWithoutProgress;

    public PreCopyConvergence(MemoryMigrationOptions? options, DateTimeOffset started)
    {
        // The bus is not trusted: out-of-range values fall back to the defaults rather than disabling the policy.
        Rounds = options?.PostCopyAfterRounds is int rounds and >= 1 and <= MemoryMigrationOptions.MaxPostCopyAfterRounds ? rounds : DefaultRounds;
        Budget = options?.PostCopyAfterSeconds is int seconds and >= 1 and <= MemoryMigrationOptions.MaxPostCopyAfterSeconds
            ? TimeSpan.FromSeconds(seconds)
            : DefaultBudget;
        _started = started;
    }

    public int Rounds { get; }

    public TimeSpan Budget { get; }

    /// <summary>Why post-copy is due after this sample of query-migrate (null: pre-copy may still converge).</summary>
    public string? Observe(MigrationState state, DateTimeOffset now)
    {
        if (state.Status != "active")
            return null;
        if (now - _started >= Budget)
            return $"memory pre-copy ran {Budget.TotalSeconds:0} s without converging";
        // The first sample of a pass shows the dirty set that pass started with.
        if (state.DirtySyncCount < 2 || state.DirtySyncCount == _round)
            return null;
        _round = state.DirtySyncCount;
        if (state.Remaining < _smallest - (_smallest / 10))
        {
            (_smallest, _roundsWithoutProgress) = (state.Remaining, 0);
            return null;
        }

        _smallest = Math.Min(_smallest, state.Remaining);

        return ++_roundsWithoutProgress >= Rounds
            ? $"{Rounds} passes over memory left at least {_smallest} dirty bytes each"
            : null;
    }
}
