using System.Net;
using System.Text.RegularExpressions;
using Teleport.Contracts;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// A <see cref="MigrationWorld"/> set up for a long fenced tail: the destination's data channel is reached through
/// <see cref="Relay"/> (it listens on 127.0.0.1 and tells sources 127.0.0.2, where the relay listens on the same port),
/// the guest writes several times faster than the migration's bandwidth for the whole test, and the copy-time budget
/// is two seconds: the saga goes post-copy while the copy is far behind the guest, so the VM resumes on the destination
/// with hundreds of blocks fenced, however fast this machine runs the guest.
/// </summary>
public sealed partial class TailRig(MigrationWorld world, CuttableRelay relay, CapturedLogs logs, GuestWorkload workload, ITestOutputHelper output)
    : IAsyncDisposable
{
    // 16 blocks a second; the guest writes up to 100 records (blocks) a second until the volume is full.
    private const long Bandwidth = 64 * 1024;

    public MigrationWorld World => world;

    public CuttableRelay Relay => relay;

    public CapturedLogs Logs => logs;

    public GuestWorkload Workload => workload;

    /// <param name="fenceWait">How long guest I/O waits for a fenced block before EIO (the destination's FenceWaitTimeout).</param>
    /// <param name="tailTimeout">The orchestrator's TailTimeout (null: its default).</param>
    public static async Task<TailRig> StartAsync(ulong run, TimeSpan fenceWait, ITestOutputHelper output, TimeSpan? tailTimeout = null)
    {
        int dataPort = FreePort.Next();
        // A record every 10 ms, 8,000 of them (the 32 MiB volume holds 8,192): still writing when the test ends.
        var workload = GuestWorkload.Writing(run) with { Records = 8000, DelayMicroseconds = 10_000, VerifyBack = 64, HoldSeconds = 600 };
        var logs = new CapturedLogs();
        var world = await MigrationWorld.StartAsync(workload, logs: logs,
            storage: o =>
            {
                if (!o.StorageId.StartsWith("dst-", StringComparison.Ordinal))
                    return;
                o.DataListen = $"127.0.0.1:{dataPort}";
                o.AdvertiseHost = "127.0.0.2";
                o.FenceWaitTimeout = fenceWait;
            },
            host: o => o.SwitchRetryWindow = TimeSpan.FromSeconds(60),
            orchestrator: o =>
            {
                o.Settings.DowntimeWaitRounds = 0;
                o.Settings.PostCopyAfter = TimeSpan.FromSeconds(2);
                o.Settings.PauseBudget = TimeSpan.FromSeconds(30);
                o.Settings.CutOverTimeout = TimeSpan.FromSeconds(60);
                if (tailTimeout is { } t)
                    o.Settings.TailTimeout = t;
            });
        var relay = CuttableRelay.Start(new IPEndPoint(IPAddress.Parse("127.0.0.2"), dataPort), new IPEndPoint(IPAddress.Loopback, dataPort));
        return new TailRig(world, relay, logs, workload, output);
    }

    /// <summary>
    /// Starts the fenced migration once the guest has written 50 records; returns when the VM resumed on the destination
    /// with at least <paramref name="minFenced"/> blocks fenced (the destination's log says how many).
    /// </summary>
    public async Task<Guid> MoveUntilTheTailAsync(int minFenced = 16)
    {
        await World.Guest.WaitForAsync(g => g.LastProgress >= 50, TimeSpan.FromSeconds(120), "the workload to reach record 50");
        var id = await World.RequestMigrationAsync(new MigrationOptions(BandwidthBytesPerSecond: Bandwidth, VolumeBytes: MigrationWorld.DefaultVolumeBytes,
            FencedCutover: true));
        await Poll.Until(() => World.Watch.Of(id).Any(e => e.Message is VmResumed or MigrationFailed),
            $"migration {id} to resume the VM on the destination", TimeSpan.FromSeconds(120));
        Assert.True(World.Watch.Last<VmResumed>(id) is not null, $"migration {id} failed before the resume: {World.Watch.Describe(id)}");
        // The VM resumes on the export the destination holds; it serves it once the final round's fence list is in.
        await Poll.Until(() => Logs.Lines.Any(l => l.Contains("served before verification", StringComparison.Ordinal)),
            $"the destination to serve migration {id}'s volume fenced", TimeSpan.FromSeconds(60));
        string served = Logs.Lines.Last(l => l.Contains("served before verification", StringComparison.Ordinal));
        output.WriteLine($"resumed on the destination: {served}");
        int fenced = int.Parse(FencedCount().Match(served).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(fenced >= minFenced, $"only {fenced} block(s) fenced at the resume: no tail to test");
        return id;
    }

    /// <summary>Whether the destination's verdict arrives within <paramref name="window"/> (the window is waited out either way when it does not).</summary>
    public async Task<bool> CompletedWithinAsync(Guid id, TimeSpan window)
    {
        var deadline = DateTime.UtcNow + window;
        while (DateTime.UtcNow < deadline)
        {
            if (World.Watch.Last<MigrationCompleted>(id) is not null)
                return true;
            await Task.Delay(50);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await World.DisposeAsync();
        await Relay.DisposeAsync();
    }

    [GeneratedRegex(@"(\d+) blocks fenced")]
    private static partial Regex FencedCount();
}
