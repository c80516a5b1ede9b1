using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using RabbitMQ.Client;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Worker;
using Teleport.Orchestrator.Persistence;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// `teleport orchestrator` (a child process) is killed with SIGKILL in the middle of a migration between real storage
/// workers and a real host worker; started again on the same database and queue, it picks up where the saga row and
/// the durable queue left it and the migration completes, the destination volume equal to the source.
/// </summary>
public sealed class OrchestratorRestartTests(ITestOutputHelper output)
{
    private const long VolumeBytes = 8L << 20;

    [Fact]
    public async Task Orchestrator_killed_mid_migration_and_restarted_completes_it()
    {
        string root = Directory.CreateTempSubdirectory("tpr").FullName;
        var parts = new List<IAsyncDisposable>();
        try
        {
            string run = Guid.NewGuid().ToString("N")[..8];
            string sourceDir = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
            string destinationDir = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
            await using (var volume = File.Create(Path.Combine(sourceDir, "vol.img")))
            {
                // 4 MiB the destination cannot rebuild, then a sparse rest.
                byte[] data = new byte[4 << 20];
                new Random(8).NextBytes(data);
                await volume.WriteAsync(data);
                volume.SetLength(VolumeBytes);
            }

            var source = Add(parts, await StorageNode.StartAsync($"src-{run}", sourceDir));
            var destination = Add(parts, await StorageNode.StartAsync($"dst-{run}", destinationDir));
            var vm = new ConcurrentVm();
            var host = Add(parts, await HostNode.StartAsync(new HostWorkerOptions { HostId = $"host-{run}" }.AddStorage(destination.Id, destination.NbdEndpoint).AddVm("vm1", new HostVmOptions
            {
                DiskListen = $"unix:{Path.Combine(root, "disk.sock")}", StorageId = source.Id, Upstream = source.NbdEndpoint, Export = "vol",
            }.UseHypervisor(vm))));
            var watch = Add(parts, await EventWatch.StartAsync());

            string queue = $"teleport-orchestrator-e2e-{run}";
            string database = Path.Combine(root, "orchestrator.db");
            string config = Path.Combine(root, "orchestrator.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new { Orchestrator = new { QueueName = queue } }));
            string[] args = ["--db", database, "--bus", TestBroker.Orchestrator, "--config", config];
            var first = OrchestratorProcess.Start(args);
            parts.Add(first);
            await first.WaitUntilRunningAsync(TimeSpan.FromSeconds(60));

            // 1 MiB/s over ~4 MiB of data: the copy takes seconds, time enough to kill the orchestrator during it.
            var id = await OrchestratorRequests.SendAsync(watch.Bus, queue, "vm1", "vol", source.Id, destination.Id, host.Id,
                new MigrationOptions(BandwidthBytesPerSecond: 1 << 20));
            var until = DateTime.UtcNow.AddSeconds(60);
            while (watch.Last<IndexStreamed>(id) is null && watch.Last<BlocksRequested>(id) is null)
            {
                Assert.True(DateTime.UtcNow < until, $"the transfer did not start: {watch.Describe(id)}; orchestrator: {first.Output}");
                await Task.Delay(10);
            }

            await first.KillAsync();
            string stateAtKill = await StateOf(database, id);
            output.WriteLine($"killed the orchestrator with the saga in {stateAtKill}; events so far: {watch.Describe(id)}");
            Assert.DoesNotContain(watch.Of(id), e => e.Message is MigrationSucceeded or MigrationFailed);
            // The workers go on; their events wait in the orchestrators' durable queue.
            await Task.Delay(TimeSpan.FromSeconds(2));

            var second = OrchestratorProcess.Start(args);
            parts.Add(second);
            await second.WaitUntilRunningAsync(TimeSpan.FromSeconds(60));
            object outcome = await watch.OutcomeAsync(id, TimeSpan.FromSeconds(120));
            var succeeded = Assert.IsType<MigrationSucceeded>(outcome);
            output.WriteLine($"after the restart: {watch.Describe(id)}; {succeeded.BytesOnWire} bytes on the wire, downtime {succeeded.DowntimeMilliseconds:0.#} ms");

            Assert.Equal("Succeeded", await StateOf(database, id));
            Assert.Equal(destination.Id, host.Node.Vms["vm1"].CurrentStorageId);
            Assert.True(vm.Running);
            Assert.Equal(await File.ReadAllBytesAsync(source.VolumePath("vol")), await File.ReadAllBytesAsync(destination.VolumePath("vol")));
            // The restarted orchestrator logged the rest of the migration, each line with its id.
            Assert.Contains(second.Output.Split('\n'), l => l.Contains(id.ToString()) && l.Contains("Resuming -> Succeeded on VmResumed"));

            Assert.Equal(0, await second.StopAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("Orchestrator stopped", second.Output);
            Assert.Equal(0u, await Pending(queue));
        }
        finally
        {
            for (int i = parts.Count - 1; i >= 0; i--)
                await parts[i].DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<string> StateOf(string database, Guid id)
    {
        await using var db = await new OrchestratorDatabase(database).OpenAsync(CancellationToken.None);
        return (await db.Migrations.AsNoTracking().SingleOrDefaultAsync(m => m.CorrelationId == id))?.CurrentState ?? "(no row)";
    }

    private static async Task<uint> Pending(string queue)
    {
        var factory = new ConnectionFactory { Uri = new Uri(TestEnvironment.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    private static T Add<T>(List<IAsyncDisposable> parts, T part)
        where T : IAsyncDisposable
    {
        parts.Add(part);
        return part;
    }
}
