namespace Teleport.Storage.Tests.Retention;

/// <summary>A clock the test moves by hand: retention reads the time from it, so expiry needs no waiting.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
