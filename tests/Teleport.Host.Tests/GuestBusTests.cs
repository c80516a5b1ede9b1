using System.Diagnostics;
using Teleport.Contracts;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>
/// The real Linux guest writing records through the host worker's path switcher while the bus pauses it, switches
/// its disk to a copy of the source and resumes it: the guest never sees an I/O error and the copy ends up with
/// every record in order.
/// </summary>
public sealed class GuestBusTests(ITestOutputHelper output) : IDisposable
{
    private const int Records = 3000;
    private const ulong Run = 7;
    private const long VolumeSize = 16L * 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task GuestWriting_BusPausesSwitchesAndResumes_EveryRecordLandsOnTheDestination()
    {
        await using var rig = await HostRig.StartAsync(_dir, VolumeSize, qemuArguments: disk => TestGuest.Arguments(disk, Records, Run));
        string host = rig.HostId;
        var id = Guid.NewGuid();
        await TestGuest.WaitForAsync(rig.Qemu, () => TestGuest.LastProgress(rig.Qemu.Output) >= 500, TimeSpan.FromSeconds(120), "the workload to reach record 500");

        var paused = Assert.IsType<VmPaused>(await rig.Probe.AskAsync(host, new PauseVm(id, HostRig.VmId, host), id));
        var atPause = await WorkloadVerifier.VerifyAsync(rig.A.FilePath, Run);
        Assert.True(atPause.IsIntact, $"source at pause: {atPause}");
        Assert.InRange(atPause.HighestSequence, 499, Records - 2);
        int writesOnA = rig.A.Export.Writes.Count;
        File.Copy(rig.A.FilePath, _dir.File("b.img"));
        await using var b = rig.StartUpstream("b", VolumeSize);

        var switchedAt = Stopwatch.StartNew();
        Assert.IsType<TargetSwitched>(await rig.Probe.AskAsync(host,
            new SwitchTarget(id, HostRig.VmId, host, HostRig.Export, "store-b", $"unix:{b.SocketPath}", HostRig.Export), id));
        var resumed = Assert.IsType<VmResumed>(await rig.Probe.AskAsync(host, new ResumeVm(id, HostRig.VmId, host), id));
        output.WriteLine($"record {atPause.HighestSequence} at pause; VmPaused -> VmResumed {(resumed.ResumedAt - paused.PausedAt).TotalMilliseconds:0.#} ms " +
            $"(switch + resume over the bus {switchedAt.Elapsed.TotalMilliseconds:0.#} ms; the copy in between is the test's)");

        await TestGuest.FinishesAsync(rig.Qemu, Records);

        var destination = await WorkloadVerifier.VerifyAsync(b.FilePath, Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(Records, destination.ValidRecords);
        Assert.Equal(writesOnA, rig.A.Export.Writes.Count);
    }
}
