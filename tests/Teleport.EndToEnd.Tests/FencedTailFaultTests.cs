using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Faults in a fenced cut-over's tail (issue 19), every part real: the guest writes and reads back its records, the
/// data channel between the storage workers runs through a relay the test can cut, and the migration is made to go
/// post-copy (a slow channel, no wait rounds), so the VM resumes on the destination with many blocks still fenced.
/// </summary>
public sealed class FencedTailFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LinkCutForTenSecondsDuringTheTail_TheTailResumesAndVerifies_AndTheGuestNeverSeesStaleData()
    {
        await using var rig = await TailRig.StartAsync(run: 191, output);
        var id = await rig.MoveUntilTheTailAsync();

        rig.Relay.Cut();
        bool completedDuringCut = await rig.CompletedWithinAsync(id, TimeSpan.FromSeconds(10));
        rig.Relay.Restore();

        var succeeded = Assert.IsType<MigrationSucceeded>(await rig.World.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120)));
        output.WriteLine($"migration {id}: {rig.World.Watch.Describe(id)}; relay accepted {rig.Relay.Accepted} connection(s)");
        Assert.False(completedDuringCut, "the tail completed while its data channel was cut: nothing was left to carry");
        Assert.True(succeeded.PostCopy);
        Assert.True(Assert.Single(rig.World.Watch.Of(id).Select(e => e.Message).OfType<MigrationCompleted>().Distinct()).Verified);
        Assert.True(rig.Relay.Accepted >= 2, "the source never reconnected through the relay after the cut");

        await rig.World.Guest.WaitForAsync(g => g.HasExited, TimeSpan.FromSeconds(300), "the guest to finish its records and power off");
        string console = rig.World.Guest.Console;
        Assert.DoesNotContain("TPW stale", console);
        Assert.DoesNotContain("TPW error", console);
        Assert.Contains("TPW exit 0", console);
        var destination = await WorkloadVerifier.VerifyAsync(rig.World.DestinationVolume, rig.Workload.Run);
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.Equal(rig.Workload.Records, destination.ValidRecords);
    }
}
