using System.Diagnostics;

namespace Teleport.Transfer;

/// <summary>
/// Paces a sender to a byte rate. Tokens refill continuously from a monotonic clock (no timer ticks), the bucket holds
/// at most <see cref="Burst"/> bytes. A frame waits only until the debt of the frames before it is paid, then goes and
/// drives the balance negative by its own size ("send now, pay before the next one"): the sender builds the next frame
/// while the link is still carrying this one, as a socket buffer lets it on a real link, and the long-run rate is
/// exact.
/// (System.Threading.RateLimiting's token bucket refills in timer periods and counts permits as int; this is smoother.)
/// </summary>
internal sealed class TokenBucket
{
    private readonly double _bytesPerSecond;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private double _balance;
    private double _lastSeconds;

    public TokenBucket(ByteRate rate, long? burst = null)
    {
        if (rate.IsUnlimited)
            throw new ArgumentException("an unlimited rate needs no bucket", nameof(rate));
        _bytesPerSecond = rate.BytesPerSecond;
        // 20 ms worth of bytes: enough to keep a link busy between timer wake-ups, small enough not to flood it.
        Burst = burst ?? Math.Max(64 * 1024, (long)(_bytesPerSecond * 0.02));
        _balance = Burst;
    }

    public long Burst { get; }

    public double BytesPerSecond => _bytesPerSecond;

    /// <summary>Seconds until the bytes already let through have left at the rate (0 when there is credit).</summary>
    public double DebtSeconds
    {
        get
        {
            lock (_lock)
            {
                double balance = Math.Min(Burst, _balance + (_clock.Elapsed.TotalSeconds - _lastSeconds) * _bytesPerSecond);
                return balance >= 0 ? 0 : -balance / _bytesPerSecond;
            }
        }
    }

    public ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        double deficit;
        lock (_lock)
        {
            double now = _clock.Elapsed.TotalSeconds;
            _balance = Math.Min(Burst, _balance + (now - _lastSeconds) * _bytesPerSecond);
            _lastSeconds = now;
            deficit = -_balance;
            _balance -= bytes;
        }

        if (deficit <= 0)
            return ValueTask.CompletedTask;
        return new ValueTask(Task.Delay(TimeSpan.FromSeconds(deficit / _bytesPerSecond), cancellationToken));
    }
}
