using System.Net;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Faults in a fenced cut-over's tail (issue 19), every part real: the guest writes and reads back its records, the
/// data channel between the storage workers runs through a relay the test can cut, and the migration goes post-copy
/// at its copy-time budget (<see cref="TailRig"/>), so the VM resumes on the destination with many blocks still fenced.
/// </summary>
public sealed class FencedTailFaultTests(ITestOutputHelper output)
{
    [Fact]
    public async Task LinkCutForTenSecondsDuringTheTail_TheTailResumesAndVerifies_AndTheGuestNeverSeesStaleData()
    {
        await using var rig = await TailRig.StartAsync(run: 191, fenceWait: TimeSpan.FromSeconds(30), output);
        var id = await rig.MoveUntilTheTailAsync();

        rig.Relay.Cut();
        bool completedDuringCut = await rig.CompletedWithinAsync(id, TimeSpan.FromSeconds(10));
        rig.Relay.Restore();

        var succeeded = Assert.IsType<MigrationSucceeded>(await rig.World.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(180)));
        output.WriteLine($"migration {id}: {rig.World.Watch.Describe(id)}; relay accepted {rig.Relay.Accepted} connection(s)");
        Assert.False(completedDuringCut, "the tail completed while its data channel was cut: nothing was left to carry");
        Assert.True(succeeded.PostCopy);
        // At least once: after the cut the saga may re-send FinalSync, and the source answers with its own figures of the
        // same transfer (bytes it sent, where the destination counted bytes it received): every copy is verified.
        var completions = rig.World.Watch.Of(id).Select(e => e.Message).OfType<MigrationCompleted>().ToList();
        Assert.NotEmpty(completions);
        Assert.All(completions, c => Assert.True(c.Verified && c.Attempt == completions[0].Attempt, $"completion {c}"));
        Assert.True(rig.Relay.Accepted >= 2, "the source never reconnected through the relay after the cut");

        // The guest wrote on through the tail (new records are blocks nobody fenced) and read back its last records.
        long written = rig.World.Guest.LastProgress;
        await rig.World.Guest.KillAsync();
        string console = rig.World.Guest.Console;
        Assert.DoesNotContain("TPW stale", console);
        Assert.DoesNotContain("TPW error", console);
        var destination = await WorkloadVerifier.VerifyAsync(rig.World.DestinationVolume, rig.Workload.Run);
        output.WriteLine($"guest reported record {written}; destination: {destination}");
        Assert.True(destination.IsIntact, $"destination: {destination}");
        Assert.True(destination.ValidRecords > written, $"the guest reported record {written}, the destination holds {destination.ValidRecords} records");
    }

    [Fact]
    public async Task SourceStorageStoppedDuringTheTail_FencedBlocksFailWithEio_NeverWrongData_AndTheMigrationFailsInTheTail()
    {
        await using var rig = await TailRig.StartAsync(run: 192, fenceWait: TimeSpan.FromSeconds(2), output, tailTimeout: TimeSpan.FromSeconds(20));
        var id = await rig.MoveUntilTheTailAsync();

        await rig.World.Source.DisposeAsync();
        // The source's copy stays on disk as it was at the pause: the one an operator repairs from.
        var atPause = await WorkloadVerifier.VerifyAsync(rig.World.SourceVolume, rig.Workload.Run);
        Assert.True(atPause.IsIntact, $"source: {atPause}");

        var (valid, failed) = await ReadRecentRecordsAsync(rig.World.Destination.NbdEndpoint, atPause.HighestSequence, rig.Workload.Run);
        output.WriteLine($"destination after the source stopped: {valid} record(s) read back whole, {failed} in reads that failed with EIO");
        Assert.True(failed > 0, "no block was still fenced when the source stopped: the test did not reach the tail");

        var outcome = Assert.IsType<MigrationFailed>(await rig.World.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120)));
        output.WriteLine($"migration {id}: {rig.World.Watch.Describe(id)}; failed: {outcome.Reason}");
        Assert.Equal(MigrationPhases.Tail, outcome.Phase);
        Assert.Contains("not rolled back", outcome.Reason, StringComparison.Ordinal);
        Assert.True(outcome.PostCopy);
        // Reported where an operator looks: the destination's NBD server logs each read it failed (the fence's deadline is the exception).
        Assert.Contains(rig.Logs.Lines, l => l.StartsWith("Warning: NBD request Read", StringComparison.Ordinal) && l.EndsWith("failed with IoError", StringComparison.Ordinal));
        Assert.DoesNotContain("TPW stale", rig.World.Guest.Console);
    }

    // The last 512 records the source held at the pause (the fenced blocks are among them), read through the destination's
    // export as a second client, 32 records a request (a request that meets a fenced block waits out FenceWaitTimeout):
    // whole records in their places, or EIO; never zeroes or another record.
    private static async Task<(int Valid, int Failed)> ReadRecentRecordsAsync(string nbdEndpoint, long highest, ulong run)
    {
        const int PerRead = 32;
        await using var client = await NbdClient.ConnectAsync(IPEndPoint.Parse(nbdEndpoint), MigrationWorld.Volume);
        byte[] chunk = new byte[PerRead * WorkloadRecord.Size];
        int valid = 0, failed = 0;
        for (long first = Math.Max(0, highest - 511); first <= highest; first += PerRead)
        {
            int count = (int)Math.Min(PerRead, highest - first + 1);
            try
            {
                await client.ReadAsync(first * WorkloadRecord.Size, chunk.AsMemory(0, count * WorkloadRecord.Size));
            }
            catch (NbdCommandException e) when (e.Error == NbdError.IoError)
            {
                failed += count;
                continue;
            }

            for (int i = 0; i < count; i++)
            {
                var kind = WorkloadRecord.Classify(chunk.AsSpan(i * WorkloadRecord.Size, WorkloadRecord.Size), first + i, run);
                Assert.True(kind == WorkloadBlockKind.Valid, $"record {first + i} read back {kind} from the destination while the source was gone");
            }

            valid += count;
        }

        return (valid, failed);
    }
}
