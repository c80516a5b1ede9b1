using System.Diagnostics;
using System.Net;
using Teleport.Contracts;
using Teleport.Nbd.Client;

namespace Teleport.Storage.Tests.Worker;

/// <summary>CreateVolume / DeleteVolume on the worker's queue (real RabbitMQ).</summary>
public sealed class VolumeCommandTests
{
    private const long Size = 64L << 20;

    [Fact]
    public async Task Create_is_sparse_exported_and_idempotent_for_the_same_size_and_refuses_another()
    {
        await using var rig = await MigrationRig.Start();
        var dst = rig.Destination;

        var first = await Create(rig, dst.Id, "data", Size);
        var created = await rig.Log.WaitFor<VolumeCreated>(e => e.RequestId == first, MigrationRig.Timeout);
        Assert.False(created.AlreadyExisted);
        Assert.Equal((dst.Id, "data", "data", Size), (created.StorageId, created.VolumeId, created.ExportName, created.SizeBytes));
        Assert.Equal($"127.0.0.1:{((IPEndPoint)dst.NbdEndPoint).Port}", created.NbdEndpoint);
        string path = Path.Combine(dst.Options.VolumeDirectory, "data.img");
        Assert.Equal(Size, new FileInfo(path).Length);
        Assert.True(AllocatedBytes(path) < 1 << 20, $"the new volume occupies {AllocatedBytes(path)} bytes: not sparse");

        await using (var client = await NbdClient.ConnectAsync(dst.NbdEndPoint, "data"))
        {
            Assert.Equal(Size, client.Size);
            await client.WriteAsync(4096, new byte[] { 1, 2, 3, 4 }, fua: true);
        }

        var again = await Create(rig, dst.Id, "data", Size);
        var repeated = await rig.Log.WaitFor<VolumeCreated>(e => e.RequestId == again, MigrationRig.Timeout);
        Assert.True(repeated.AlreadyExisted);
        Assert.Equal(4, File.ReadAllBytes(path)[4099]); // untouched by the repeat

        var other = await Create(rig, dst.Id, "data", Size * 2);
        var refused = await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == other, MigrationRig.Timeout);
        Assert.Equal("Create", refused.Operation);
        Assert.Contains($"already exists with {Size} bytes, not {Size * 2}", refused.Reason);
        Assert.Equal(Size, new FileInfo(path).Length);

        (Guid Request, string Expect)[] bad =
        [
            (await Create(rig, dst.Id, "../escape", Size), "not a volume name"),
            (await Create(rig, dst.Id, "odd", 1000), "multiple of 512"),
            (await Create(rig, dst.Id, "neg", -512), "multiple of 512"),
            (await Create(rig, "someone-else", "x", Size, queue: dst.Id), "reached storage"),
        ];
        foreach (var (request, expect) in bad)
            Assert.Contains(expect, (await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == request, MigrationRig.Timeout)).Reason);
        Assert.False(File.Exists(Path.Combine(rig.Root, "escape.img")));
        Assert.Equal(["data"], dst.Volumes.List().Select(v => v.Name));
    }

    [Fact]
    public async Task Delete_is_refused_while_an_NBD_client_or_a_migration_uses_the_volume()
    {
        await using var rig = await MigrationRig.Start();
        var dst = rig.Destination;
        var create = await Create(rig, dst.Id, "data", Size);
        await rig.Log.WaitFor<VolumeCreated>(e => e.RequestId == create, MigrationRig.Timeout);

        var client = await NbdClient.ConnectAsync(dst.NbdEndPoint, "data");
        var busy = await Delete(rig, dst.Id, "data");
        var refused = await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == busy, MigrationRig.Timeout);
        Assert.Equal("Delete", refused.Operation);
        Assert.Contains("1 NBD client(s) attached", refused.Reason);
        await client.DisposeAsync();
        var until = DateTime.UtcNow.AddSeconds(10);
        while (dst.Node.Exports.ClientsOf("data") > 0 && DateTime.UtcNow < until)
            await Task.Delay(20);

        var delete = await Delete(rig, dst.Id, "data");
        var deleted = await rig.Log.WaitFor<VolumeDeleted>(e => e.RequestId == delete, MigrationRig.Timeout);
        Assert.True(deleted.Existed);
        Assert.False(File.Exists(Path.Combine(dst.Options.VolumeDirectory, "data.img")));
        Assert.False(dst.Volumes.Contains("data"));
        Assert.DoesNotContain(await NbdClient.ListExportsAsync(dst.NbdEndPoint), e => e.Name == "data");
        var gone = await Delete(rig, dst.Id, "data");
        Assert.False((await rig.Log.WaitFor<VolumeDeleted>(e => e.RequestId == gone, MigrationRig.Timeout)).Existed);

        // The source's volume while it migrates, and the volume the destination is receiving: both refused.
        var id = Guid.NewGuid();
        var slow = new MigrationOptions(BlockSize: 4096, BandwidthBytesPerSecond: 256 * 1024);
        await rig.Prepare(id, slow);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.StartTransfer(id, prepared, slow);
        await rig.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id, MigrationRig.Timeout);
        var source = await Delete(rig, rig.Source.Id, "lamp");
        var receiving = await Delete(rig, dst.Id, "lamp");
        var recreate = await Create(rig, dst.Id, "lamp", 16L << 20);
        Assert.Contains($"used by migration {id}", (await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == source, MigrationRig.Timeout)).Reason);
        Assert.Contains($"used by migration {id}", (await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == receiving, MigrationRig.Timeout)).Reason);
        Assert.Contains("being received", (await rig.Log.WaitFor<VolumeOperationFailed>(e => e.RequestId == recreate, MigrationRig.Timeout)).Reason);
        Assert.True(File.Exists(rig.SourceVolume));
        Assert.True(File.Exists(rig.DestinationVolume));
        await rig.Abort(id, rig.Source.Id);
        await rig.Abort(id, dst.Id);
        await rig.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == dst.Id, MigrationRig.Timeout);
    }

    /// <summary>Sends CreateVolume to <paramref name="queue"/> (default: the queue of <paramref name="storageId"/>).</summary>
    private static async Task<Guid> Create(MigrationRig rig, string storageId, string volume, long bytes, string? queue = null)
    {
        var request = Guid.NewGuid();
        await rig.Saga.Send(queue ?? storageId, new CreateVolume(request, storageId, volume, bytes));
        return request;
    }

    private static async Task<Guid> Delete(MigrationRig rig, string storageId, string volume)
    {
        var request = Guid.NewGuid();
        await rig.Saga.Send(storageId, new DeleteVolume(request, storageId, volume));
        return request;
    }

    /// <summary>Bytes the file occupies on disk (stat's 512-byte blocks).</summary>
    private static long AllocatedBytes(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        Assert.Equal(0, stat.ExitCode);
        return long.Parse(output.Trim()) * 512;
    }
}
