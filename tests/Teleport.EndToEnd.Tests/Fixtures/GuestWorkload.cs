namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// What the guest's teleport-writer does: <see cref="Records"/> numbered, checksummed 4 KiB records (record N at
/// offset N×4096, O_DIRECT|O_DSYNC), a pause of <see cref="DelayMicroseconds"/> between records, then it stays up
/// idle for <see cref="HoldSeconds"/> (0: it powers off). With <see cref="VerifyBack"/> it reads back the records 1 and
/// VerifyBack before each one and stops with "TPW stale" if either differs from what it wrote. With <see cref="DirtyMiB"/>
/// it also rewrites that many MiB of its memory over and over (random bytes), so a throttled memory pre-copy cannot converge.
/// </summary>
public sealed record GuestWorkload(int Records, int DelayMicroseconds, ulong Run, int ProgressEvery = 50, int HoldSeconds = 0, int VerifyBack = 0,
    int DirtyMiB = 0)
{
    /// <summary>Writes through the whole migration: about 10 s of records at a steady rate, then powers off.</summary>
    public static GuestWorkload Writing(ulong run) => new(5000, 1500, run);

    /// <summary>Writes as fast as it can (no pause between records), up to 8000 records: for the downtime benchmark.</summary>
    public static GuestWorkload Continuous(ulong run) => new(8000, 0, run, ProgressEvery: 100);

    /// <summary>Writes a few records, then stays idle (for the idle-downtime benchmark).</summary>
    public static GuestWorkload Idle(ulong run) => new(64, 0, run, ProgressEvery: 16, HoldSeconds: 600);
}
