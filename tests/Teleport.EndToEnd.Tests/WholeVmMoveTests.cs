using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Workload;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Whole-VM moves through the real saga on the real RabbitMQ, two host workers and two storage workers, with the test
/// guest writing numbered records in the source QEMU.
/// </summary>
public sealed class WholeVmMoveTests(ITestOutputHelper output)
{
    private const ulong Run = 31;

    [Fact]
    public async Task An_incoming_QEMU_that_cannot_start_fails_the_move_the_guest_runs_on_at_the_source_and_loses_nothing()
    {
        var workload = new GuestWorkload(2000, 1500, Run + 1);
        // The destination's "QEMU" exits at once, as a broken or missing binary would.
        await using var world = await WholeVmWorld.StartAsync(workload, destinationHost: o => o.QemuBinary = "/bin/false");
        await WaitForAsync(() => WholeVmWorld.LastProgress(world.Guest.Output) >= 200, TimeSpan.FromSeconds(120), "the workload to reach record 200", world);

        var id = await world.RequestMoveAsync();
        var failed = Assert.IsType<MigrationFailed>(await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(120)));
        output.WriteLine($"move {id} failed in {failed.Phase}: {failed.Reason}");
        Assert.Contains("the incoming VM did not start", failed.Reason);
        Assert.Empty(world.Watch.Of(id).Select(e => e.Message).OfType<MemoryPreSwitchover>());

        // The guest never stopped: it writes its last record on the source and powers off; every record is on the source.
        await world.Guest.WaitForExitAsync(TimeSpan.FromSeconds(240));
        Assert.Contains($"TPW done last={workload.Records - 1}", world.Guest.Output);
        Assert.DoesNotContain("I/O error", world.Guest.Output);
        var source = await WorkloadVerifier.VerifyAsync(world.SourceVolume, workload.Run);
        Assert.True(source.IsIntact, $"source: {source}");
        Assert.Equal(workload.Records, source.ValidRecords);
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what, WholeVmWorld world)
    {
        var until = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"Gave up waiting for {what}; source console:\n{world.Guest.Output}\ndestination console:\n{world.DestinationConsole}");
            await Task.Delay(50);
        }
    }
}
