using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tests.Support;
using static Teleport.Nbd.Tests.Fencing.FencedVolume;

namespace Teleport.Nbd.Tests.Fencing;

/// <summary>
/// The fenced export against real NBD clients (our client, qemu-io) over TCP: a fenced block is never read stale, is
/// asked for at once, and the guest's writes win over the tail's late copies.
/// </summary>
public sealed class FencedExportTests
{
    [Fact]
    public async Task ReadOfAFencedBlock_AsksForItAtOnce_AndReturnsTheSourcesCopy()
    {
        await using var volume = new FencedVolume(16, fenced: [3, 4, 9]);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);

        byte[] unfenced = new byte[BlockSize];
        await client.ReadAsync(0, unfenced);
        Assert.Equal(volume.SourceBlock(0), unfenced);

        byte[] buffer = new byte[2 * BlockSize];
        var read = client.ReadAsync(3 * BlockSize, buffer).AsTask();
        Assert.True(await volume.RequestedSignal.WaitAsync(TimeSpan.FromSeconds(10)), "the waiting read asked for nothing");
        Assert.Equal([3L, 4L], volume.Requested.Order());
        Assert.False(read.IsCompleted);

        Assert.True(volume.Arrive(4));
        Assert.False(read.IsCompleted);
        Assert.True(volume.Arrive(3));
        await read.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(volume.Source.AsSpan(3 * BlockSize, 2 * BlockSize).ToArray(), buffer);
        Assert.Equal(1, volume.Fence.FencedCount);
    }

    [Fact]
    public async Task QemuIo_ReadsTheSourcesData_WhileTheTailDeliversOnRequest()
    {
        await using var volume = new FencedVolume(32, fenced: Enumerable.Range(8, 8).Select(b => (long)b), pattern: 0x5A);
        // The tail answers every request (as the source does, ahead of its stream) while qemu-io waits.
        using var stop = new CancellationTokenSource();
        var tail = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await volume.RequestedSignal.WaitAsync(stop.Token);
                    while (volume.Requested.TryDequeue(out long b))
                        volume.Arrive(b);
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        // -P makes qemu-io check every byte it read against the source's pattern (stale blocks hold 0xEE).
        await QemuTools.QemuIoAsync(volume.Url, $"read -P 0x5a {6 * BlockSize} {4 * BlockSize}", $"write -P 0x33 {12 * BlockSize} {BlockSize}",
            $"read -P 0x33 {12 * BlockSize} {BlockSize}");
        await stop.CancelAsync();
        await tail;
        Assert.False(volume.Fence.IsFenced(8));
        Assert.False(volume.Fence.IsFenced(9));
        Assert.False(volume.Fence.IsFenced(12));
        Assert.True(volume.Fence.IsFenced(10));
        Assert.False(volume.Arrive(12)); // the guest's block: the late copy is dropped
        Assert.All(volume.OnDisk().AsSpan(12 * BlockSize, BlockSize).ToArray(), b => Assert.Equal(0x33, b));
    }

    [Fact]
    public async Task FullBlockWriteBeforeArrival_IsKept_AndTheLateCopyDropped()
    {
        await using var volume = new FencedVolume(8, fenced: [2]);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);
        byte[] guest = Enumerable.Repeat((byte)0x42, BlockSize).ToArray();

        await client.WriteAsync(2 * BlockSize, guest).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, volume.Fence.FencedCount);
        Assert.False(volume.Arrive(2));

        byte[] back = new byte[BlockSize];
        await client.ReadAsync(2 * BlockSize, back);
        Assert.Equal(guest, back);
        Assert.Equal(guest, volume.OnDisk().AsSpan(2 * BlockSize, BlockSize).ToArray());
    }

    [Fact]
    public async Task PartialWrite_WaitsForTheBlock_AndMergesWithTheSourcesCopy()
    {
        await using var volume = new FencedVolume(8, fenced: [5]);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);
        byte[] guest = Enumerable.Repeat((byte)0x17, 100).ToArray();

        var write = client.WriteAsync(5 * BlockSize + 1000, guest).AsTask();
        Assert.True(await volume.RequestedSignal.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(write.IsCompleted);
        Assert.True(volume.Arrive(5));
        await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(volume.Arrive(5)); // a resent copy after the guest's write is dropped too

        byte[] expected = volume.SourceBlock(5);
        guest.CopyTo(expected, 1000);
        byte[] back = new byte[BlockSize];
        await client.ReadAsync(5 * BlockSize, back);
        Assert.Equal(expected, back);
    }

    [Fact]
    public async Task GuestWriteDuringTheTailsWrite_WaitsForIt_SoTheGuestLandsLast()
    {
        await using var volume = new FencedVolume(4, fenced: [1]);
        Assert.True(volume.Fence.BeginArrival(1));
        var claim = volume.Fence.ClaimForWriteAsync(BlockSize, BlockSize, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(claim.IsCompleted);
        volume.Fence.EndArrival(1, 1);
        await claim.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(volume.Fence.IsGuestBlock(1));
        Assert.False(volume.Fence.BeginArrival(1));
    }

    [Fact]
    public async Task ABlockThatNeverArrives_FailsTheReadWithEio_AtItsDeadline_AndTheConnectionStaysUsable()
    {
        await using var volume = new FencedVolume(8, fenced: [6], waitTimeout: TimeSpan.FromMilliseconds(300));
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);

        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(6 * BlockSize, new byte[BlockSize]).AsTask());
        Assert.Equal(NbdError.IoError, error.Error);
        var partial = await Assert.ThrowsAsync<NbdCommandException>(() => client.WriteAsync(6 * BlockSize, new byte[10]).AsTask());
        Assert.Equal(NbdError.IoError, partial.Error);
        Assert.Equal(2, volume.Fence.TimedOutWaits);

        byte[] other = new byte[BlockSize];
        await client.ReadAsync(5 * BlockSize, other);
        Assert.Equal(volume.SourceBlock(5), other);
        Assert.True(volume.Arrive(6));
        await client.ReadAsync(6 * BlockSize, other);
        Assert.Equal(volume.SourceBlock(6), other);
    }

    [Fact]
    public async Task OutOfRangeRequests_AreRefused_AndLoseNothing()
    {
        await using var volume = new FencedVolume(4, fenced: [0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => volume.Fence.BeginArrival(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => volume.Fence.WaitReadableAsync(-1, 10, CancellationToken.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => volume.Fence.Arm([new Teleport.Blocks.BlockRun(3, 2)]));
        Assert.True(volume.Fence.IsFenced(0));
        Assert.Equal(1, volume.Fence.FencedCount);
    }
}
