namespace Teleport.Storage.Migrations;

/// <summary>
/// One command at a time per migration, so a command's checks and its slow work (files, listeners, stopping a
/// session) need no lock held across them, while commands of other migrations go on.
/// </summary>
internal sealed class MigrationTurns
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Turn> _turns = new();

    public async Task<IDisposable> EnterAsync(Guid migrationId)
    {
        Turn turn;
        lock (_gate)
        {
            if (!_turns.TryGetValue(migrationId, out turn!))
                _turns[migrationId] = turn = new Turn(this, migrationId);
            turn.Users++;
        }

        await turn.Semaphore.WaitAsync().ConfigureAwait(false);
        return turn;
    }

    private void Leave(Turn turn)
    {
        turn.Semaphore.Release();
        lock (_gate)
        {
            // The last holder or waiter forgets it, so the map holds only migrations with a command under way.
            if (--turn.Users == 0)
                _turns.Remove(turn.MigrationId);
        }
    }

    private sealed class Turn(MigrationTurns owner, Guid migrationId) : IDisposable
    {
        public Guid MigrationId { get; } = migrationId;

        public SemaphoreSlim Semaphore { get; } = new(1, 1);

        public int Users { get; set; }

        public void Dispose() => owner.Leave(this);
    }
}
