using System.Security.Cryptography;
using Teleport.Contracts;
using Teleport.Nbd.Client;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// The storage workers' part of a fenced cut-over, on the real broker (the test plays the saga and the VM's host): the
/// destination offers the volume over NBD from PrepareDestination on, held (a client selects it at once, its commands
/// wait), and serves it once the final round is announced, before it is verified; reads get the source's data at the
/// pause, never what the destination held before, a write there wins over the tail, and the migration still verifies.
/// A rollback withdraws the held export and closes its connections.
/// </summary>
public sealed class FencedCutoverTests : IDisposable
{
    private const int BlockSize = 4096;
    private const long VolumeBytes = 16L << 20;
    private static readonly TimeSpan Timeout = MigrationRig.Timeout;

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-storage-fenced-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Destination_serves_the_volume_before_verification_reads_see_the_source_and_a_guest_write_survives_the_tail()
    {
        string src = Directory.CreateDirectory(Path.Combine(_root, "src")).FullName;
        string dst = Directory.CreateDirectory(Path.Combine(_root, "dst")).FullName;
        BusMigrationTests.WriteVolumes(Path.Combine(src, "lamp.img"), null);
        string run = Guid.NewGuid().ToString("N")[..8];
        var destinationLogs = new CapturedLogs();
        await using var saga = await SagaStandIn.Start();
        await using var source = await WorkerHost.Start($"src-{run}", src);
        await using var destination = await WorkerHost.Start($"dst-{run}", dst, logs: destinationLogs);
        var id = Guid.NewGuid();
        // A slow link keeps the final round in flight while the "VM" reads; a high threshold converges after round one.
        var options = new MigrationOptions(BlockSize: BlockSize, VolumeBytes: VolumeBytes, BandwidthBytesPerSecond: 4 << 20,
            DirtyThresholdBlocks: 100_000, FencedCutover: true);

        await saga.Send(destination.Id, new PrepareDestination(id, "lamp", source.Id, destination.Id, options));
        var prepared = await saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, Timeout);
        // The VM's host selects the export before the pause (its switch is then a local swap); a read waits for the fence.
        await using var vm = await NbdClient.ConnectAsync(destination.NbdEndPoint, "lamp");
        byte[] early = new byte[256 << 10];
        var earlyRead = vm.ReadAsync(0, early).AsTask();
        using var stopWriter = new CancellationTokenSource();
        var writer = BusMigrationTests.WriteUntilStopped(source, stopWriter.Token);
        await saga.Send(source.Id, new StartTransfer(id, "lamp", source.Id, destination.Id, prepared.DataEndpoint, prepared.Secret,
            prepared.CertificateSha256, options));
        await saga.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, Timeout);
        Assert.False(destination.Volumes.Contains("lamp"), "served before the final round was announced");
        Assert.False(earlyRead.IsCompleted, "a read was answered before the final round was announced");
        await Task.Delay(300);
        await stopWriter.CancelAsync();
        Assert.True(await writer > 0);
        // The "pause": the source volume does not change from here on.
        byte[] atPause = await File.ReadAllBytesAsync(Path.Combine(src, "lamp.img"));
        await saga.Send(source.Id, new FinalSync(id, "lamp", source.Id));

        await earlyRead.WaitAsync(Timeout);
        Assert.True(early.AsSpan().SequenceEqual(atPause.AsSpan(0, early.Length)), "the read held before the fence returned something else than the source at the pause");
        byte[] seen = new byte[VolumeBytes];
        for (long at = 0; at < VolumeBytes; at += 256 << 10)
            await vm.ReadAsync(at, seen.AsMemory((int)at, 256 << 10));
        Assert.True(seen.AsSpan().SequenceEqual(atPause), "a read through the fenced export returned something else than the source at the pause");
        byte[] guest = RandomNumberGenerator.GetBytes(BlockSize);
        await vm.WriteAsync(5 * BlockSize, guest);
        await vm.FlushAsync();

        var completed = await saga.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, Timeout);
        Assert.True(completed.Verified);
        guest.CopyTo(atPause.AsSpan(5 * BlockSize));
        Assert.True((await File.ReadAllBytesAsync(Path.Combine(dst, "lamp.img"))).AsSpan().SequenceEqual(atPause),
            "the destination is not the source at the pause plus the guest's write");
        var lines = destinationLogs.Lines.ToList();
        int served = lines.FindIndex(l => l.Contains("served before verification", StringComparison.Ordinal));
        int received = lines.FindIndex(l => l.Contains("received for migration", StringComparison.Ordinal));
        Assert.True(served >= 0 && served < received, "the volume was not served before it was verified");
    }

    [Fact]
    public async Task A_rollback_withdraws_the_held_export_and_closes_its_connection()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();
        await rig.Prepare(id, new MigrationOptions(BlockSize: BlockSize, VolumeBytes: VolumeBytes, FencedCutover: true));
        await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, Timeout);
        await using var vm = await NbdClient.ConnectAsync(rig.Destination.NbdEndPoint, "lamp");
        var held = vm.ReadAsync(0, new byte[BlockSize]).AsTask();

        await rig.Abort(id, rig.Destination.Id);

        await Assert.ThrowsAnyAsync<Teleport.Nbd.Protocol.NbdException>(() => held.WaitAsync(Timeout));
        for (int i = 0; i < 1000 && !vm.Closed; i++)
            await Task.Delay(10);
        Assert.True(vm.Closed, "the connection to the withdrawn export stayed open");
        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(rig.Destination.NbdEndPoint, "lamp"));
        Assert.Equal(Teleport.Nbd.Protocol.NbdOptionReplyType.ErrorUnknown, refused.Reply);
        Assert.False(rig.Destination.Volumes.Contains("lamp"));
    }

    [Fact]
    public async Task A_fenced_cutover_without_the_volume_size_is_refused_when_prepared()
    {
        await using var rig = await MigrationRig.Start();
        var id = Guid.NewGuid();

        await rig.Prepare(id, new MigrationOptions(BlockSize: BlockSize, FencedCutover: true));

        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id, Timeout);
        Assert.Contains("VolumeBytes", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(MigrationPhases.Prepare, failed.Phase);
        Assert.Empty(await rig.Settled<DestinationPrepared>(id));
        Assert.False(File.Exists(rig.DestinationVolume));
    }
}
