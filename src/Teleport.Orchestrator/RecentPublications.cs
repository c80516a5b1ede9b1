namespace Teleport.Orchestrator;

/// <summary>
/// What a <see cref="DeadlineSweeper"/> sweep published lately, per saga row and the due time it was published for:
/// a row still awaiting its saga is not published again on every tick, only once an interval passed (in case the
/// message was lost), and a row with a new due time at once.
/// </summary>
internal sealed class RecentPublications
{
    private readonly Dictionary<Guid, (DateTime DueAt, DateTimeOffset PublishedAt)> _published = [];

    /// <summary>Forgets every row but <paramref name="due"/> (the others were handled or moved on).</summary>
    public void KeepOnly(IEnumerable<Guid> due)
    {
        var keep = due.ToHashSet();
        foreach (var stale in _published.Keys.Where(id => !keep.Contains(id)).ToList())
            _published.Remove(stale);
    }

    /// <summary>The row was published for this due time less than <paramref name="again"/> before <paramref name="now"/>.</summary>
    public bool IsRecent(Guid id, DateTime dueAt, DateTimeOffset now, TimeSpan again) =>
        _published.TryGetValue(id, out var earlier) && earlier.DueAt == dueAt && now - earlier.PublishedAt < again;

    public void Published(Guid id, DateTime dueAt, DateTimeOffset now) => _published[id] = (dueAt, now);
}
