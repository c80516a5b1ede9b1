using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>Runs alone: its hundreds of sagas at once would starve the other tests' waits.</summary>
[CollectionDefinition(nameof(EventCoverageTests), DisableParallelization = true)]
[Collection(nameof(EventCoverageTests))]
public sealed class EventCoverageTests
{
    public static readonly string[] AllStates =
        ["Preparing", "Indexing", "Requesting", "Copying", "Pausing", "Switching", "Resuming",
         "MigratingMemory", "SyncingDisk", "ContinuingMemory", "StartingOnDestination",
         "RollingBackSwitch", "RollingBackResume", "Succeeded", "Failed"];

    private static readonly string[] WholeVmOnly = ["MigratingMemory", "SyncingDisk", "ContinuingMemory", "StartingOnDestination"];

    private static readonly string[] StorageOnly = ["Pausing", "Switching", "Resuming", "RollingBackSwitch"];

    // One of every message the saga consumes.
    private static IEnumerable<object> EveryEvent(Guid id)
    {
        var m = new MigrationScript(null!, id);
        yield return Request(id);
        yield return m.Prepared();
        yield return m.IndexStreamed();
        yield return m.BlocksRequested();
        yield return m.Round(1);
        yield return m.Threshold();
        yield return m.Paused();
        yield return m.Switched();
        yield return m.Completed();
        yield return m.Resumed();
        yield return m.SwitchedBack();
        yield return m.TransferFailed();
        yield return m.HostFailed("pause");
        yield return new TransferAborted(id, Source, MigrationScript.T0);
        yield return new MigrationDeadlineExpired(id, "Elsewhere", MigrationScript.T0, MigrationScript.T0);
        yield return new MigrationNudged(id, "Elsewhere", 1, MigrationScript.T0, MigrationScript.T0);
        yield return new CancelMigration(id, "test");
        yield return new RetryMigration(id);
        var vm = new WholeVmScript(null!, id);
        yield return vm.Described();
        yield return vm.IncomingPrepared();
        yield return vm.Progress(1);
        yield return vm.PreSwitchover();
        yield return vm.MemoryMigrated();
        yield return new IncomingVmDiscarded(id, Vm, WholeVmScript.DestinationHost, MigrationScript.T0);
        yield return new SourceVmStopped(id, Vm, Host, MigrationScript.T0);
    }

    private static Guid MigrationIdOf(object message) => (Guid)message.GetType().GetProperty("MigrationId")!.GetValue(message)!;

    [Fact]
    public async Task Every_message_in_every_state_is_handled_or_explicitly_ignored()
    {
        await using var host = await StartAsync();
        var cases = new List<(string State, object Message)>();
        await using (var db = await host.Database.OpenAsync(CancellationToken.None))
        {
            // Storage-only and whole-VM rows, each in the states its moves pass through.
            foreach (var (state, destinationHost) in AllStates.Where(s => !WholeVmOnly.Contains(s)).Select(s => (s, (string?)null))
                         .Concat(AllStates.Where(s => !StorageOnly.Contains(s)).Select(s => (s, (string?)WholeVmScript.DestinationHost))))
            {
                foreach (object message in EveryEvent(Guid.Empty))
                {
                    var id = Guid.NewGuid();
                    db.Migrations.Add(new MigrationState
                    {
                        CorrelationId = id, CurrentState = state, Attempt = 1, VmId = Vm, VolumeId = Volume,
                        SourceStorageId = Source, DestinationStorageId = Destination, HostId = Host,
                        DestinationHostId = destinationHost,
                    });
                    cases.Add((state, EveryEvent(id).Single(e => e.GetType() == message.GetType())));
                }
            }

            await db.SaveChangesAsync();
        }

        await Task.WhenAll(cases.Select(c => host.Harness.Bus.Publish(c.Message, c.Message.GetType())));

        // A bound, not a speed target: the machine may be busy with other builds.
        var until = DateTime.UtcNow.AddSeconds(240);
        while (host.Harness.Consumed.Select(_ => true).Count() < cases.Count && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        Assert.Equal(cases.Count, host.Harness.Consumed.Select(_ => true).Count());
        var stateOf = cases.ToDictionary(c => MigrationIdOf(c.Message), c => c.State);
        var faults = host.Harness.Consumed.Select(c => c.Exception is not null)
            .Select(c => $"{c.MessageType.Name} in {stateOf[MigrationIdOf(c.MessageObject)]}: {c.Exception!.Message}")
            .ToList();
        Assert.True(faults.Count == 0, string.Join("\n", faults));
    }
}
