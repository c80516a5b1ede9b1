using System.Buffers.Binary;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// The destination requests what its index cannot have before it copies what its index has, so a WAN link carries
/// the misses while the local copies are made.
/// </summary>
public class EarlyRequestTests
{
    private const int BlockSize = 4096;

    [Fact]
    public async Task Blocks_missing_from_the_index_are_requested_before_the_batch_is_copied_from_it()
    {
        using var dir = new TempDir();
        // Blocks 0-2 are in the destination's index, 3-5 are not, 6 repeats block 3 (it waits for 3, never requested).
        byte[][] known = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        byte[][] missing = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        byte[][] volume = [.. known, .. missing, missing[0]];
        File.WriteAllBytes(dir.File("base.img"), known.SelectMany(b => b).ToArray());
        using var index = BlockIndex.Open(dir.File("index"));
        index.Update([dir.File("base.img")]);

        var requestSeen = new ManualResetEventSlim();
        int copiesBeforeRequest = 0, copiesAfterRequest = 0;
        void OnWrite(long offset, int length)
        {
            if (offset >= 3L * BlockSize)
                return;
            // A copy from the index: it may only start once the misses are on their way to the source.
            if (requestSeen.Wait(TimeSpan.FromSeconds(10)))
                Interlocked.Increment(ref copiesAfterRequest);
            else
                Interlocked.Increment(ref copiesBeforeRequest);
        }

        var id = Guid.NewGuid();
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        await using var destination = new DestinationSession(new DestinationOptions
        {
            MigrationId = id,
            Secret = secret,
            VolumePath = dir.File("dst.img"),
            Listen = new(System.Net.IPAddress.Loopback, 0),
            Index = index,
            AfterBlockWrite = OnWrite,
        });
        destination.Start();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = destination.RunAsync(guard.Token);

        await using var peer = await RawPeer.ConnectAsync(destination.LocalEndPoint!);
        await peer.AuthenticateAsync(secret, id, volume.Length * BlockSize, BlockSize);
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, volume));

        var request = await peer.ReadAsync();
        Assert.Equal(MessageType.Request, request.Type);
        var runs = new List<BlockRun>();
        RequestMessage.Parse(request.Payload.Span, new VolumeGeometry(volume.Length * BlockSize, BlockSize), runs);
        requestSeen.Set();
        Assert.Equal([new BlockRun(3, 3)], runs);

        byte[] end = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(end, (ulong)volume.Length);
        await peer.SendAsync(MessageType.IndexEnd, end);
        var requestEnd = await ReadSkippingAcksAsync(peer);
        Assert.Equal(MessageType.RequestEnd, requestEnd.Type);
        var totals = RequestEndMessage.Parse(requestEnd.Payload.Span);
        // Nothing requested twice: the early request is the whole of it, and block 6 waits for block 3.
        Assert.Equal(3, totals.Requested);
        Assert.Equal(3, totals.FromIndex);
        Assert.Equal(1, totals.FromVolume);
        Assert.Equal(0, copiesBeforeRequest);
        Assert.Equal(3, copiesAfterRequest);

        await guard.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    private static async Task<Frame> ReadSkippingAcksAsync(RawPeer peer)
    {
        while (true)
        {
            var frame = await peer.ReadAsync();
            if (frame.Type != MessageType.Ack)
                return frame;
        }
    }
}
