using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Forces a lost-update race: the next saga UPDATE chosen by <see cref="Arm"/> is held until another writer's
/// UPDATE of the row has gone through, so the held one still carries the version it read and must conflict.
/// </summary>
public sealed partial class RaceMaker(TimeSpan? holdLimit = null) : DbCommandInterceptor
{
    private readonly TimeSpan _holdLimit = holdLimit ?? TimeSpan.FromSeconds(15);
    private readonly ConcurrentQueue<string> _trace = new();
    private readonly TaskCompletionSource _heldSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<string, bool> _which = _ => true;
    private int _updatesDone;
    private int _armed;
    private int _held;

    /// <summary>Holds the next saga UPDATE whose SQL satisfies <paramref name="which"/> (any, by default).</summary>
    public void Arm(Func<string, bool>? which = null)
    {
        _which = which ?? (_ => true);
        Interlocked.Exchange(ref _armed, 1);
    }

    public int HeldUpdates => Volatile.Read(ref _held);

    /// <summary>The saga-table updates seen, for a failure message.</summary>
    public string Trace => string.Join("\n", _trace);

    /// <summary>Completes once an update is being held.</summary>
    public Task Held => _heldSignal.Task;

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        await HoldChosenUpdate(command);
        return result;
    }

    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await HoldChosenUpdate(command);
        return result;
    }

    public override ValueTask<DbDataReader> ReaderExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
    {
        CountUpdate(command);
        return ValueTask.FromResult(result);
    }

    public override ValueTask<int> NonQueryExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        CountUpdate(command);
        return ValueTask.FromResult(result);
    }

    private void CountUpdate(DbCommand command)
    {
        if (SagaUpdate().IsMatch(command.CommandText))
        {
            Interlocked.Increment(ref _updatesDone);
        }
    }

    private async Task HoldChosenUpdate(DbCommand command)
    {
        if (!SagaUpdate().IsMatch(command.CommandText))
        {
            return;
        }

        if (!_which(command.CommandText) || Interlocked.Exchange(ref _armed, 0) != 1)
        {
            _trace.Enqueue($"update (thread {Environment.CurrentManagedThreadId})");
            return;
        }

        Interlocked.Increment(ref _held);
        int before = Volatile.Read(ref _updatesDone);
        _trace.Enqueue($"update held (thread {Environment.CurrentManagedThreadId})");
        _heldSignal.TrySetResult();
        var until = DateTime.UtcNow + _holdLimit;
        while (Volatile.Read(ref _updatesDone) == before && DateTime.UtcNow < until)
        {
            await Task.Delay(5);
        }

        _trace.Enqueue($"update released after {Volatile.Read(ref _updatesDone) - before} other update(s)");
    }

    [GeneratedRegex("""^\s*UPDATE\s+"?migrations"?\s""", RegexOptions.IgnoreCase)]
    private static partial Regex SagaUpdate();
}
