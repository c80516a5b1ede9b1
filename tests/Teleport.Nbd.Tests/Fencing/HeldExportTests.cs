using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using static Teleport.Nbd.Tests.Fencing.FencedVolume;

namespace Teleport.Nbd.Tests.Fencing;

/// <summary>
/// A fenced export offered held, before its fence is armed (the fenced cut-over's destination from PrepareDestination on),
/// over real TCP: a client completes NBD_OPT_GO at once; every command then waits until the volume is served (only the
/// armed fence knows which blocks are stale), bounded by the fence's wait timeout (EIO, nothing written); a read of a
/// block fenced at arming returns the tail's copy, never the stale one; a withdrawn export closes its connections.
/// </summary>
public sealed class HeldExportTests
{
    [Fact]
    public async Task A_client_selects_the_export_before_the_fence_and_its_commands_wait_for_the_served_data()
    {
        await using var volume = new FencedVolume(16, fenced: [3], held: true);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name, new NbdClientOptions());
        Assert.Equal(16L * BlockSize, client.Size);
        Assert.False(client.Export.IsReadOnly);

        byte[] fenced = new byte[BlockSize], other = new byte[BlockSize];
        byte[] written = Enumerable.Repeat((byte)0x5A, BlockSize).ToArray();
        var readFenced = client.ReadAsync(3 * BlockSize, fenced).AsTask();
        var readOther = client.ReadAsync(0, other).AsTask();
        var write = client.WriteAsync(7 * BlockSize, written).AsTask();
        var flush = client.FlushAsync().AsTask();
        var all = Task.WhenAll(readFenced, readOther, write, flush);
        Assert.NotSame(all, await Task.WhenAny(all, Task.Delay(300)));
        Assert.Empty(volume.Requested); // nothing is asked for before the fence knows what is stale

        volume.Serve();
        await Task.WhenAll(readOther, write, flush).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(volume.SourceBlock(0), other);
        Assert.True(await volume.RequestedSignal.WaitAsync(TimeSpan.FromSeconds(10)), "the waiting read asked for nothing");
        Assert.Equal([3L], volume.Requested);
        Assert.False(readFenced.IsCompleted);

        Assert.True(volume.Arrive(3));
        await readFenced.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(volume.SourceBlock(3), fenced);
        Assert.Equal(written, volume.OnDisk().AsSpan(7 * BlockSize, BlockSize).ToArray());
    }

    [Fact]
    public async Task Commands_on_a_held_export_are_bounded_by_the_fence_wait_and_fail_with_EIO_writing_nothing()
    {
        await using var volume = new FencedVolume(8, fenced: [1], TimeSpan.FromMilliseconds(300), held: true);
        byte[] before = volume.OnDisk();
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);

        var read = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(0, new byte[BlockSize]).AsTask());
        var write = await Assert.ThrowsAsync<NbdCommandException>(() => client.WriteAsync(2 * BlockSize, new byte[BlockSize]).AsTask());
        var flush = await Assert.ThrowsAsync<NbdCommandException>(() => client.FlushAsync().AsTask());
        Assert.All([read, write, flush], e => Assert.Equal(NbdError.IoError, e.Error));
        Assert.Equal(before, volume.OnDisk());

        // The connection survives the failures: served later, it works.
        volume.Serve();
        byte[] block = new byte[BlockSize];
        await client.ReadAsync(0, block);
        Assert.Equal(volume.SourceBlock(0), block);
    }

    [Fact]
    public async Task A_withdrawn_held_export_fails_its_waiting_commands_and_closes_the_connection()
    {
        await using var volume = new FencedVolume(8, fenced: [1], TimeSpan.FromMinutes(5), held: true);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);
        var waiting = client.ReadAsync(0, new byte[BlockSize]).AsTask();
        Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(200)));

        volume.Export.Withdraw();
        await Assert.ThrowsAnyAsync<NbdException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        for (int i = 0; i < 1000 && !client.Closed; i++)
            await Task.Delay(10);
        Assert.True(client.Closed, "the server kept the connection to a withdrawn export");
        Assert.Equal(0, volume.Server.ClientsOf(Name));
        await Assert.ThrowsAsync<NbdConnectionException>(() => client.ReadAsync(0, new byte[BlockSize]).AsTask());
    }
}
