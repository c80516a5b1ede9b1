namespace Teleport.Host.Relay;

/// <summary>A wake-up that coalesces: signals while nobody waits leave one pending wake-up, not a count.</summary>
internal sealed class AsyncPulse
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Signal()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // A wake-up is pending already.
        }
    }

    /// <returns>False when <paramref name="timeout"/> passed without a signal.</returns>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _semaphore.WaitAsync(timeout, cancellationToken);
}
