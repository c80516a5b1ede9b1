using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Host.Worker;
using Teleport.Orchestrator.Persistence;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// Fifty migrations at once over the real RabbitMQ, with the real storage workers, host worker and orchestrator:
/// small sparse volumes with some data, VMs stood in for by <see cref="ConcurrentVm"/>. Every one reaches a final
/// state; each one that succeeded has its disk path on the destination and an identical volume there, each one
/// that failed has its path on the source.
/// </summary>
public sealed class ConcurrentMigrationTests(ITestOutputHelper output)
{
    private const int Migrations = 50;
    private const long VolumeBytes = 1L << 20;

    [Fact]
    public async Task Fifty_migrations_at_once_all_reach_a_final_state()
    {
        string root = Directory.CreateTempSubdirectory("tpc").FullName;
        var parts = new List<IAsyncDisposable>();
        try
        {
            string run = Guid.NewGuid().ToString("N")[..8];
            string sourceDir = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
            string destinationDir = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
            var random = new Random(6);
            for (int i = 0; i < Migrations; i++)
            {
                // Sparse, with 48 KiB of data (distinct per volume) at a few places.
                await using var volume = File.Create(Path.Combine(sourceDir, $"v{i:00}.img"));
                volume.SetLength(VolumeBytes);
                foreach (long offset in new long[] { 0, 300 * 1024, 900 * 1024 })
                {
                    byte[] data = new byte[16 * 1024];
                    random.NextBytes(data);
                    volume.Position = offset;
                    await volume.WriteAsync(data);
                }
            }

            var source = Add(parts, await StorageNode.StartAsync($"src-{run}", sourceDir));
            var destination = Add(parts, await StorageNode.StartAsync($"dst-{run}", destinationDir));
            var hostOptions = new HostWorkerOptions { HostId = $"host-{run}" }.AddStorage(destination.Id, destination.NbdEndpoint);
            for (int i = 0; i < Migrations; i++)
            {
                hostOptions.AddVm($"vm{i:00}", new HostVmOptions
                {
                    DiskListen = $"unix:{Path.Combine(root, $"d{i:00}.sock")}",
                    StorageId = source.Id,
                    Upstream = source.NbdEndpoint,
                    Export = $"v{i:00}",
                }.UseHypervisor(new ConcurrentVm()));
            }

            var host = Add(parts, await HostNode.StartAsync(hostOptions));
            // Fifty cut-overs at once on two cores take longer than the default 5 s pause budget, after which the host
            // rightly resumes on the source: this test is about the saga under load, so the pause is not bounded here.
            var orchestrator = Add(parts, await OrchestratorNode.StartAsync(root, configure: o => o.Settings.PauseBudget = null));
            var watch = Add(parts, await EventWatch.StartAsync());

            var clock = Stopwatch.StartNew();
            var ids = await Task.WhenAll(Enumerable.Range(0, Migrations).Select(i => OrchestratorRequests.SendAsync(
                watch.Bus, orchestrator.Options.QueueName, $"vm{i:00}", $"v{i:00}", source.Id, destination.Id, host.Id)));
            object[] outcomes = await Task.WhenAll(ids.Select(id => watch.OutcomeAsync(id, TimeSpan.FromSeconds(240))));
            double seconds = clock.Elapsed.TotalSeconds;

            int succeeded = outcomes.Count(o => o is MigrationSucceeded);
            var failures = outcomes.OfType<MigrationFailed>().ToList();
            output.WriteLine($"{Migrations} migrations of {VolumeBytes >> 20} MiB volumes at once: {succeeded} succeeded, {failures.Count} failed, " +
                             $"all final in {seconds:0.0} s");
            foreach (var failure in failures)
                output.WriteLine($"  {failure.MigrationId} ({failure.VmId}) failed in {failure.Phase}: {failure.Reason}");

            // The saga rows agree: every migration is final.
            var database = new OrchestratorDatabase(orchestrator.Options.Database);
            await using (var db = await database.OpenAsync(CancellationToken.None))
            {
                var rows = await db.Migrations.AsNoTracking().Where(m => ids.Contains(m.CorrelationId)).ToListAsync();
                Assert.Equal(Migrations, rows.Count);
                Assert.All(rows, r => Assert.Contains(r.CurrentState, new[] { "Succeeded", "Failed" }));
            }

            for (int i = 0; i < Migrations; i++)
            {
                var vm = host.Node.Vms[$"vm{i:00}"];
                if (outcomes[i] is MigrationSucceeded done)
                {
                    Assert.Equal(destination.Id, vm.CurrentStorageId);
                    Assert.Equal(VolumeBytes, done.VolumeBytes);
                    Assert.Equal(await File.ReadAllBytesAsync(source.VolumePath($"v{i:00}")), await File.ReadAllBytesAsync(destination.VolumePath($"v{i:00}")));
                }
                else
                {
                    Assert.Equal(source.Id, vm.CurrentStorageId);
                }
            }

            // Fifty small migrations on an idle machine have no reason to fail: a failure is a finding.
            Assert.True(failures.Count == 0, string.Join("; ", failures.Select(f => $"{f.VmId} in {f.Phase}: {f.Reason}")));
        }
        finally
        {
            for (int i = parts.Count - 1; i >= 0; i--)
                await parts[i].DisposeAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    private static T Add<T>(List<IAsyncDisposable> parts, T part)
        where T : IAsyncDisposable
    {
        parts.Add(part);
        return part;
    }
}
