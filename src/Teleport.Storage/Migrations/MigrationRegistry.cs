namespace Teleport.Storage.Migrations;

/// <summary>
/// The sides of one role this worker plays, by MigrationId, and the volumes claimed by a side still being opened. The
/// lock guards these maps only: a side is checked and its volume claimed under it, opened (files, listener) outside
/// it, then registered and started.
/// </summary>
internal abstract class MigrationRegistry<T>(MigrationServices services)
    where T : MigrationSide
{
    // Volumes of a command between its checks and its session, by migration.
    private readonly Dictionary<string, Guid> _claimed = new(StringComparer.Ordinal);

    protected Lock Gate { get; } = new();

    protected Dictionary<Guid, T> Running { get; } = new();

    protected MigrationServices S { get; } = services;

    public int Count
    {
        get
        {
            lock (Gate)
                return Running.Count;
        }
    }

    /// <summary>Whether a side of this role has not finished its work yet.</summary>
    public bool AnyUnfinished
    {
        get
        {
            lock (Gate)
                return Running.Values.Any(m => !m.Completed) || _claimed.Count > 0;
        }
    }

    /// <summary>The migration of this role using <paramref name="volumeId"/> (not finished), if any.</summary>
    public Guid? Using(string volumeId)
    {
        lock (Gate)
        {
            return Running.Values.FirstOrDefault(m => m.VolumeId == volumeId && !m.Completed)?.MigrationId
                ?? (_claimed.TryGetValue(volumeId, out var claimant) ? claimant : null);
        }
    }

    /// <summary>Takes the side of <paramref name="attempt"/> or earlier out for an abort (a late abort must not stop a later attempt).</summary>
    public virtual T? TakeForAbort(Guid migrationId, int attempt)
    {
        lock (Gate)
            return Running.TryGetValue(migrationId, out var side) && side.Attempt <= attempt && Running.Remove(migrationId) ? side : null;
    }

    /// <summary>Every side, taken out for a stop of the worker.</summary>
    public virtual IReadOnlyList<MigrationSide> TakeAll()
    {
        lock (Gate)
        {
            var all = Running.Values.ToArray();
            Running.Clear();
            return all;
        }
    }

    // Caller holds the gate: whether a running or claimed side of this role uses the volume.
    protected bool Busy(string volumeId) => Running.Values.Any(m => m.VolumeId == volumeId && !m.Completed) || _claimed.ContainsKey(volumeId);

    /// <summary>Checks (under the lock, claiming the volume), opens (outside it), registers and starts a side.</summary>
    protected T Open<TChecked>(Guid migrationId, string volumeId, Func<TChecked> check, Func<TChecked, T> open, Func<T, Task> run)
    {
        TChecked checkedFields;
        lock (Gate)
        {
            checkedFields = check();
            _claimed.Add(volumeId, migrationId);
        }

        try
        {
            var side = open(checkedFields);
            lock (Gate)
                Running.Add(migrationId, side);
            side.Start(() => run(side));
            return side;
        }
        finally
        {
            lock (Gate)
                _claimed.Remove(volumeId);
        }
    }

    /// <summary>Takes out a side whose session failed unless a later attempt replaced it; <paramref name="removed"/> runs under the same lock.</summary>
    protected void RemoveFailed(T side, Action? removed = null)
    {
        lock (Gate)
        {
            if (Running.GetValueOrDefault(side.MigrationId) == side)
            {
                Running.Remove(side.MigrationId);
                removed?.Invoke();
            }
        }
    }
}
