using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Contracts;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Storage.Retention;
using Teleport.Storage.Tests.Worker;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Retention;

/// <summary>
/// Retained copies on a real storage worker (real files, index and NBD server; the bus only where a migration is
/// needed), its clock moved by hand: expiry, the space budget (oldest first), no deletion under an incoming migration,
/// never exported, read-only, and the states a crash can leave.
/// </summary>
public sealed class RetentionSweepTests : IDisposable
{
    private const int VolumeBytes = 1 << 20;
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-retention-").FullName;
    private readonly ManualClock _clock = new(T0);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Volumes => Path.Combine(_root, "volumes");

    private async Task<WorkerHost> Start(long budget = 1L << 40, TimeSpan? period = null, params string[] volumes)
    {
        Directory.CreateDirectory(Volumes);
        foreach (string name in volumes)
            File.WriteAllBytes(Path.Combine(Volumes, name + ".img"), RandomNumberGenerator.GetBytes(VolumeBytes));
        return await WorkerHost.Start("ret-" + Guid.NewGuid().ToString("N")[..8], Volumes, Path.Combine(_root, "index"), configure: o =>
        {
            o.RetentionPeriod = period ?? TimeSpan.FromDays(2);
            o.RetentionBudgetBytes = budget;
            o.RetentionSweepInterval = TimeSpan.FromHours(1); // the test sweeps by hand
        }, services: s => s.AddSingleton<TimeProvider>(_clock));
    }

    private static bool Indexed(WorkerHost worker, string path) => worker.Node.Index!.Images.Any(i => i.Path == path);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_retained_copy_is_indexed_never_exported_read_only_and_deleted_when_it_expires()
    {
        await using var worker = await Start(volumes: ["v1", "v2"]);
        var retention = worker.Node.Retention;
        var first = retention.Retain("v1", Guid.NewGuid())!;
        _clock.Now = T0.AddDays(1);
        var second = retention.Retain("v2", Guid.NewGuid())!;
        await retention.Indexed;

        string path = retention.PathOf(first);
        Assert.False(File.Exists(Path.Combine(Volumes, "v1.img")), "the volume became the copy");
        Assert.Equal(T0.AddDays(2), first.ExpiresAt);
        Assert.True(Indexed(worker, path), "the copy is indexed under its own path");
        Assert.Equal(UnixFileMode.None, File.GetUnixFileMode(path) & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));
        Assert.False(worker.Volumes.Contains("v1"));
        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(worker.NbdEndPoint, "v1"));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, refused.Reply);

        _clock.Now = T0.AddDays(2).AddSeconds(-1);
        Assert.Equal(0, retention.Sweep());
        _clock.Now = T0.AddDays(2);
        Assert.Equal(1, retention.Sweep());
        Assert.False(File.Exists(path));
        Assert.False(Indexed(worker, path), "the expired copy's entries left the index");
        Assert.Equal([second], retention.List());
        Assert.True(Indexed(worker, retention.PathOf(second)));
    }

    [Fact]
    public async Task Over_the_budget_the_oldest_copies_go_first()
    {
        await using var worker = await Start(budget: (VolumeBytes * 5L) / 2, volumes: ["v1", "v2", "v3"]);
        var retention = worker.Node.Retention;
        var copies = new List<RetainedCopy>();
        foreach (string name in new[] { "v2", "v1", "v3" })
        {
            copies.Add(retention.Retain(name, Guid.NewGuid())!);
            _clock.Now += TimeSpan.FromMinutes(1);
        }

        // Two fit the budget: the third retention deleted the oldest (v2, retained first), not the first by name.
        Assert.Equal(["v1", "v3"], retention.List().Select(c => c.VolumeId));
        Assert.False(File.Exists(retention.PathOf(copies[0])));
        Assert.True(File.Exists(retention.PathOf(copies[1])));
    }

    [Fact]
    public async Task A_copy_due_for_deletion_waits_while_an_incoming_migration_runs()
    {
        await using var saga = await SagaStandIn.Start();
        await using var worker = await Start(volumes: ["v1"]);
        var retention = worker.Node.Retention;
        var copy = retention.Retain("v1", Guid.NewGuid())!;
        var incoming = Guid.NewGuid();
        await saga.Send(worker.Id, new PrepareDestination(incoming, "w1", "src-x", worker.Id, new MigrationOptions(VolumeBytes: VolumeBytes)));
        await saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == incoming, MigrationRigTimeout);

        _clock.Now = T0.AddDays(3);
        Assert.Equal(0, retention.Sweep());
        Assert.True(File.Exists(retention.PathOf(copy)), "an incoming session may be reading the copy's blocks");

        await saga.Send(worker.Id, new AbortTransfer(incoming, "w1", worker.Id, "test ends it"));
        await saga.Log.WaitFor<TransferAborted>(e => e.MigrationId == incoming, MigrationRigTimeout);
        Assert.Equal(1, retention.Sweep());
        Assert.False(File.Exists(retention.PathOf(copy)));
    }

    [Fact]
    public async Task With_retention_off_the_volume_stays_a_served_volume()
    {
        await using var worker = await Start(period: TimeSpan.Zero, volumes: ["v1"]);
        Assert.Null(worker.Node.Retention.Retain("v1", Guid.NewGuid()));
        Assert.True(worker.Volumes.Contains("v1"));
        Assert.Empty(worker.Node.Retention.List());
    }

    [Fact]
    public async Task A_crash_leaves_the_volume_or_the_copy_never_neither()
    {
        // Crash after the record, before the rename: the volume is still the volume. After the rename: a copy.
        string retained = Directory.CreateDirectory(Path.Combine(Volumes, RetainedStore.DirectoryName)).FullName;
        var before = new RetainedCopy("v1", Guid.NewGuid(), VolumeBytes, T0, T0.AddDays(2));
        var after = new RetainedCopy("v2", Guid.NewGuid(), VolumeBytes, T0, T0.AddDays(2));
        foreach (var copy in new[] { before, after })
            File.WriteAllText(Path.Combine(retained, copy.Stem + ".json"), System.Text.Json.JsonSerializer.Serialize(copy, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)));
        File.WriteAllBytes(Path.Combine(retained, after.Stem + ".img"), RandomNumberGenerator.GetBytes(VolumeBytes));

        await using var worker = await Start(volumes: ["v1"]);
        await worker.Node.Retention.Indexed;
        Assert.True(worker.Volumes.Contains("v1"), "the volume whose rename never happened is served");
        Assert.False(File.Exists(Path.Combine(retained, before.Stem + ".json")), "its record is dropped");
        Assert.Equal([after], worker.Node.Retention.List());
        Assert.False(worker.Volumes.Contains("v2"));
        Assert.True(Indexed(worker, worker.Node.Retention.PathOf(after)), "a copy found at start is indexed");
    }

    [Fact]
    public void Bad_retention_settings_are_refused_with_their_names()
    {
        var options = new StorageWorkerOptions { StorageId = "s1", VolumeDirectory = _root, NbdListen = "127.0.0.1:0", RetentionBudgetBytes = -1 };
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Storage:RetentionBudgetBytes", e.Message);
        options.RetentionBudgetBytes = null;
        options.RetentionPeriod = TimeSpan.FromSeconds(-1);
        Assert.Contains("Storage:RetentionPeriod", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    private static TimeSpan MigrationRigTimeout => MigrationRig.Timeout;
}
