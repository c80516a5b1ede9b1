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
        // Blocks 0-2 are in the destination's index, 3-5 are not, 6 repeats block 3 (it waits for 3, never requested).
        byte[][] known = RandomBlocks(3);
        byte[][] missing = RandomBlocks(3);
        await using var t = await Fixture.StartAsync(known, [.. known, .. missing, missing[0]], copiedBelow: 3);
        await t.Peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, t.Volume));

        Assert.Equal([new BlockRun(3, 3)], await t.ReadRequestAsync());
        var totals = await t.EndIndexAsync();
        // Nothing requested twice: the early request is the whole of it, and block 6 waits for block 3.
        Assert.Equal(3, totals.Requested);
        Assert.Equal(3, totals.FromIndex);
        Assert.Equal(1, totals.FromVolume);
        t.AssertCopiesWaited(3);
    }

    [Fact]
    public async Task Misses_of_batches_buffered_behind_the_one_being_copied_are_requested_before_its_copies()
    {
        // The first batch: blocks 0-2 in the index, 3 not; the second, arriving with it: 4-5 not, 6 in the index.
        byte[][] known = RandomBlocks(4);
        byte[][] missing = RandomBlocks(3);
        byte[][] volume = [known[0], known[1], known[2], missing[0], missing[1], missing[2], known[3]];
        await using var t = await Fixture.StartAsync(known, volume, copiedBelow: 3);
        // Both frames in one write: the second is buffered while the first is resolved.
        await t.Peer.SendRawAsync([.. Frame(RawPeer.IndexBatch(0, volume[..4])), .. Frame(RawPeer.IndexBatch(4, volume[4..]))]);

        // One request for both batches' misses, out before any of the first batch's copies.
        Assert.Equal([new BlockRun(3, 3)], await t.ReadRequestAsync());
        var totals = await t.EndIndexAsync();
        Assert.Equal(3, totals.Requested);
        Assert.Equal(4, totals.FromIndex);
        t.AssertCopiesWaited(3);
    }

    private static byte[][] RandomBlocks(int count) =>
        Enumerable.Range(0, count).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();

    private static byte[] Frame(byte[] indexBatch)
    {
        byte[] frame = new byte[ProtocolConstants.HeaderSize + indexBatch.Length];
        new FrameHeader(indexBatch.Length, MessageType.IndexBatch, 0).Write(frame);
        indexBatch.CopyTo(frame, ProtocolConstants.HeaderSize);
        return frame;
    }

    /// <summary>
    /// A destination with an index of <c>known</c>, a raw source peer migrating <c>Volume</c>, and a check that
    /// the copies into blocks below <c>copiedBelow</c> (those from the index) are made only after the first request.
    /// </summary>
    private sealed class Fixture : IAsyncDisposable
    {
        private readonly TempDir _dir = new();
        private readonly ManualResetEventSlim _requestSeen = new();
        private readonly CancellationTokenSource _guard = new(TimeSpan.FromSeconds(60));
        private BlockIndex _index = null!;
        private DestinationSession _destination = null!;
        private Task _run = Task.CompletedTask;
        private int _copiesBeforeRequest, _copiesAfterRequest;

        public byte[][] Volume { get; private init; } = [];

        public RawPeer Peer { get; private set; } = null!;

        public static async Task<Fixture> StartAsync(byte[][] known, byte[][] volume, long copiedBelow)
        {
            var t = new Fixture { Volume = volume };
            File.WriteAllBytes(t._dir.File("base.img"), known.SelectMany(b => b).ToArray());
            t._index = BlockIndex.Open(t._dir.File("index"));
            t._index.Update([t._dir.File("base.img")]);
            var id = Guid.NewGuid();
            byte[] secret = RandomNumberGenerator.GetBytes(32);
            t._destination = new DestinationSession(new DestinationOptions
            {
                MigrationId = id,
                Secret = secret,
                VolumePath = t._dir.File("dst.img"),
                Listen = new(System.Net.IPAddress.Loopback, 0),
                Index = t._index,
                AfterBlockWrite = (offset, length) => t.OnWrite(offset, length, copiedBelow),
            });
            t._destination.Start();
            t._run = t._destination.RunAsync(t._guard.Token);
            t.Peer = await RawPeer.ConnectAsync(t._destination.LocalEndPoint!);
            await t.Peer.AuthenticateAsync(secret, id, volume.Length * BlockSize, BlockSize);
            return t;
        }

        private void OnWrite(long offset, int length, long copiedBelow)
        {
            if (offset >= copiedBelow * BlockSize)
                return;
            // Copies from the index (consecutive ones in one write): they may only start once the misses are on their way.
            int blocks = (int)Math.Min(length / BlockSize, copiedBelow - offset / BlockSize);
            if (_requestSeen.Wait(TimeSpan.FromSeconds(10)))
                Interlocked.Add(ref _copiesAfterRequest, blocks);
            else
                Interlocked.Add(ref _copiesBeforeRequest, blocks);
        }

        /// <summary>The first Request's runs (the copies may go on from here).</summary>
        public async Task<List<BlockRun>> ReadRequestAsync()
        {
            var request = await Peer.ReadAsync();
            _requestSeen.Set();
            Assert.Equal(MessageType.Request, request.Type);
            var runs = new List<BlockRun>();
            RequestMessage.Parse(request.Payload.Span, new VolumeGeometry(Volume.Length * BlockSize, BlockSize), runs);
            return runs;
        }

        /// <summary>Sends IndexEnd and returns the RequestEnd totals.</summary>
        public async Task<RequestEndMessage> EndIndexAsync()
        {
            byte[] end = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(end, (ulong)Volume.Length);
            await Peer.SendAsync(MessageType.IndexEnd, end);
            while (true)
            {
                var frame = await Peer.ReadAsync();
                if (frame.Type == MessageType.Ack)
                    continue;
                Assert.Equal(MessageType.RequestEnd, frame.Type);
                return RequestEndMessage.Parse(frame.Payload.Span);
            }
        }

        public void AssertCopiesWaited(int copies)
        {
            Assert.Equal(0, _copiesBeforeRequest);
            Assert.Equal(copies, _copiesAfterRequest);
        }

        public async ValueTask DisposeAsync()
        {
            await _guard.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _run);
            await Peer.DisposeAsync();
            await _destination.DisposeAsync();
            _index.Dispose();
            _requestSeen.Dispose();
            _guard.Dispose();
            _dir.Dispose();
        }
    }
}
