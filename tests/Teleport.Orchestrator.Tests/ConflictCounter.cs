using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Teleport.Orchestrator.Tests;

/// <summary>Counts saves that lost an optimistic-concurrency race.</summary>
public sealed class ConflictCounter : SaveChangesInterceptor
{
    private int _conflicts;

    public int Conflicts => Volatile.Read(ref _conflicts);

    public override ValueTask<InterceptionResult> ThrowingConcurrencyExceptionAsync(
        ConcurrencyExceptionEventData eventData, InterceptionResult result, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _conflicts);
        return ValueTask.FromResult(result);
    }
}
