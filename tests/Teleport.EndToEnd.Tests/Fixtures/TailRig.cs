using System.Net;
using Teleport.Contracts;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// A <see cref="MigrationWorld"/> set up for a long fenced tail: the destination's data channel is reached through
/// <see cref="Relay"/> (it listens on 127.0.0.1 and tells sources 127.0.0.2, where the relay listens on the same port),
/// the orchestrator waits no rounds for a fitting pause and the channel is slow, so the controller goes post-copy at the
/// first threshold and the VM resumes on the destination with the dirty set still fenced.
/// </summary>
public sealed partial class TailRig : IAsyncDisposable
{
    // Slower than the writing guest, so the pre-copy seldom converges and the resume comes with blocks still fenced
    // (2 to 834 in the runs so far, by how fast the guest wrote on the loaded machine).
    private const long Bandwidth = 128 * 1024;

    private TailRig(MigrationWorld world, CuttableRelay relay, CapturedLogs logs, GuestWorkload workload, ITestOutputHelper output)
    {
        World = world;
        Relay = relay;
        Logs = logs;
        Workload = workload;
        Output = output;
    }

    public MigrationWorld World { get; }

    public CuttableRelay Relay { get; }

    public CapturedLogs Logs { get; }

    public GuestWorkload Workload { get; }

    private ITestOutputHelper Output { get; }

    public static async Task<TailRig> StartAsync(ulong run, ITestOutputHelper output)
    {
        int dataPort = FreePort.Next();
        var workload = GuestWorkload.Writing(run) with { Records = 8000, VerifyBack = 64 };
        var logs = new CapturedLogs();
        var world = await MigrationWorld.StartAsync(workload, logs: logs,
            storage: o =>
            {
                if (!o.StorageId.StartsWith("dst-", StringComparison.Ordinal))
                    return;
                o.DataListen = $"127.0.0.1:{dataPort}";
                o.AdvertiseHost = "127.0.0.2";
            },
            // The switch waits for the fenced export behind the data frame already on the slow channel.
            host: o => o.SwitchRetryWindow = TimeSpan.FromSeconds(90),
            orchestrator: o =>
            {
                o.Settings.DowntimeWaitRounds = 0;
                // The pause carries the data already sent into the slow channel when the cut-over comes.
                o.Settings.PauseBudget = TimeSpan.FromSeconds(60);
                o.Settings.CutOverTimeout = TimeSpan.FromSeconds(90);
            });
        var relay = CuttableRelay.Start(new IPEndPoint(IPAddress.Parse("127.0.0.2"), dataPort), new IPEndPoint(IPAddress.Loopback, dataPort));
        return new TailRig(world, relay, logs, workload, output);
    }

    /// <summary>
    /// Starts the fenced migration once the guest has written 300 records; returns when the VM resumed on the destination
    /// with at least <paramref name="minFenced"/> blocks fenced (the destination's log says how many).
    /// </summary>
    public async Task<Guid> MoveUntilTheTailAsync(int minFenced = 1)
    {
        await World.Guest.WaitForAsync(g => g.LastProgress >= 300, TimeSpan.FromSeconds(120), "the workload to reach record 300");
        var id = await World.RequestMigrationAsync(new MigrationOptions(BandwidthBytesPerSecond: Bandwidth, DirtyThresholdBlocks: 1_000_000,
            VolumeBytes: MigrationWorld.DefaultVolumeBytes, FencedCutover: true));
        await Poll.Until(() => World.Watch.Of(id).Any(e => e.Message is VmResumed or MigrationFailed),
            $"migration {id} to resume the VM on the destination", TimeSpan.FromSeconds(120));
        Assert.True(World.Watch.Last<VmResumed>(id) is not null, $"migration {id} failed before the resume: {World.Watch.Describe(id)}");
        string? served = Logs.Lines.LastOrDefault(l => l.Contains("served before verification", StringComparison.Ordinal));
        Assert.True(served is not null, $"migration {id} resumed without the destination serving it fenced: {World.Watch.Describe(id)}; "
            + $"{World.Watch.Last<HostOperationFailed>(id)?.Reason}\n"
            + string.Join('\n', Logs.Lines.Where(l => l.Contains("Warning", StringComparison.Ordinal) || l.Contains("Error", StringComparison.Ordinal)).TakeLast(30)));
        Output.WriteLine($"resumed on the destination: {served}");
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

    [System.Text.RegularExpressions.GeneratedRegex(@"(\d+) blocks fenced")]
    private static partial System.Text.RegularExpressions.Regex FencedCount();
}
