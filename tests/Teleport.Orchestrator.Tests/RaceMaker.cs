using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// Forces a lost-update race: the first UPDATE of a saga row after <see cref="Arm"/> is held until another
/// message has read the row, so both writers start from the same version and one of them must conflict.
/// </summary>
public sealed partial class RaceMaker : DbCommandInterceptor
{
    private readonly ConcurrentQueue<string> _trace = new();
    private int _reads;
    private int _armed;
    private int _held;

    public void Arm() => Interlocked.Exchange(ref _armed, 1);

    public int HeldUpdates => Volatile.Read(ref _held);

    /// <summary>The saga-table commands seen, for a failure message.</summary>
    public string Trace => string.Join("\n", _trace);

    public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        await HoldFirstUpdate(command);
        return result;
    }

    public override ValueTask<DbDataReader> ReaderExecutedAsync(
        DbCommand command, CommandExecutedEventData eventData, DbDataReader result, CancellationToken cancellationToken = default)
    {
        // Counted once the read has run, so the held writer goes on only after the other one has its (old) version.
        if (SagaRead().IsMatch(command.CommandText))
        {
            Interlocked.Increment(ref _reads);
            _trace.Enqueue($"read done (thread {Environment.CurrentManagedThreadId})");
        }

        return ValueTask.FromResult(result);
    }

    public override async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        await HoldFirstUpdate(command);
        return result;
    }

    private async Task HoldFirstUpdate(DbCommand command)
    {
        if (!SagaUpdate().IsMatch(command.CommandText))
        {
            return;
        }

        if (Interlocked.Exchange(ref _armed, 0) != 1)
        {
            _trace.Enqueue($"update (thread {Environment.CurrentManagedThreadId})");
            return;
        }

        Interlocked.Increment(ref _held);
        var readsBefore = Volatile.Read(ref _reads);
        _trace.Enqueue($"update held after {readsBefore} reads (thread {Environment.CurrentManagedThreadId})");
        var until = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref _reads) == readsBefore && DateTime.UtcNow < until)
        {
            await Task.Delay(5);
        }

        _trace.Enqueue($"update released after {Volatile.Read(ref _reads)} reads");
    }

    [GeneratedRegex("""^\s*SELECT\b.*\bFROM\s+"?migrations"?\s""", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex SagaRead();

    [GeneratedRegex("""^\s*UPDATE\s+"?migrations"?\s""", RegexOptions.IgnoreCase)]
    private static partial Regex SagaUpdate();
}
