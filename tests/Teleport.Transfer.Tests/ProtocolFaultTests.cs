using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>A destination fed wrong frames: clear error, connection closed, volume untouched by the bad frame.</summary>
public class ProtocolFaultTests
{
    private const int BlockSize = 4096;
    private const int Blocks = 8;

    private sealed class Fixture : IAsyncDisposable
    {
        public readonly TempDir Dir = new();
        public readonly Guid Id = Guid.NewGuid();
        public readonly byte[] Secret = RandomNumberGenerator.GetBytes(32);
        public readonly List<Exception> Rejected = [];
        public readonly CancellationTokenSource Guard = new(TimeSpan.FromSeconds(30));
        public DestinationSession Destination = null!;
        public Task<TransferResult> Run = null!;

        public string VolumePath => Dir.File("dst.img");

        public static Fixture Start()
        {
            var f = new Fixture();
            f.Destination = new DestinationSession(new DestinationOptions
            {
                MigrationId = f.Id,
                Secret = f.Secret,
                VolumePath = f.VolumePath,
                Listen = new(System.Net.IPAddress.Loopback, 0),
                Observer = new RejectRecorder(f.Rejected),
            });
            f.Destination.Start();
            f.Run = f.Destination.RunAsync(f.Guard.Token);
            return f;
        }

        public Task<RawPeer> ConnectAsync() => RawPeer.ConnectAsync(Destination.LocalEndPoint!);

        public async Task<RawPeer> AuthenticatedAsync()
        {
            var peer = await ConnectAsync();
            await peer.AuthenticateAsync(Secret, Id, Blocks * BlockSize, BlockSize);
            return peer;
        }

        public void AssertVolumeAllZero()
        {
            byte[] bytes = File.ReadAllBytes(VolumePath);
            Assert.Equal(Blocks * BlockSize, bytes.Length);
            Assert.True(Array.TrueForAll(bytes, b => b == 0), "the destination volume was modified");
        }

        public async Task<TransferException> FailureAsync()
        {
            var error = await Assert.ThrowsAsync<TransferException>(() => Run);
            return error;
        }

        public async ValueTask DisposeAsync()
        {
            await Guard.CancelAsync();
            try
            {
                await Run;
            }
            catch (Exception)
            {
            }

            await Destination.DisposeAsync();
            Dir.Dispose();
        }
    }

    private sealed class RejectRecorder(List<Exception> list) : ITransferObserver
    {
        public void OnRejected(Exception error)
        {
            lock (list)
                list.Add(error);
        }
    }

    [Fact]
    public async Task A_peer_speaking_another_protocol_is_refused()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        await peer.SendRawAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        var error = await peer.ReadErrorThenCloseAsync();
        // "GET " is no sane length and "1.1\r" sets the reserved header bits: refused at the framing layer.
        Assert.Equal(TransferErrorCode.BadFrame, error?.Code);
        Assert.False(File.Exists(f.VolumePath));
        Assert.False(f.Run.IsCompleted, "an unauthenticated peer must not end the session");
    }

    [Fact]
    public async Task A_hello_with_bad_magic_is_refused()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        byte[] hello = RawPeer.Hello(f.Id, 4096, 4096);
        hello[0] ^= 0xFF;
        await peer.SendAsync(MessageType.Hello, hello);
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.BadFrame, error?.Code);
        Assert.Contains("another protocol", error!.Message);
    }

    [Theory]
    [InlineData(1, 1)] // a source of protocol version 1 (32-byte zero-run counts, zstd per frame)
    [InlineData(2, 2)] // a source of protocol version 2 (32-byte fingerprints in the index stream)
    [InlineData(4, 5)]
    public async Task A_peer_with_another_protocol_version_is_refused(ushort min, ushort max)
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        await peer.SendAsync(MessageType.Hello, RawPeer.Hello(f.Id, 4096, 4096, min: min, max: max));
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.UnsupportedVersion, error?.Code);
        Assert.Contains($"destination speaks protocol versions 3..3, source offers {min}..{max}", error!.Message);
        Assert.False(File.Exists(f.VolumePath));
        Assert.False(f.Run.IsCompleted, "an old peer must not end the session");
    }

    [Fact]
    public async Task A_peer_for_another_migration_is_refused()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        var asked = Guid.NewGuid();
        await peer.SendAsync(MessageType.Hello, RawPeer.Hello(asked, 4096, 4096));
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.WrongMigration, error?.Code);
        // Not authenticated: the peer learns no migration id, neither ours nor an echo of its own.
        Assert.DoesNotContain(f.Id.ToString(), error!.Message);
        Assert.DoesNotContain(asked.ToString(), error.Message);
    }

    [Fact]
    public async Task A_wrong_proof_is_refused_and_the_volume_is_not_created()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        await peer.SendAsync(MessageType.Hello, RawPeer.Hello(f.Id, 4096, 4096));
        var challenge = await peer.ReadAsync();
        Assert.Equal(MessageType.Challenge, challenge.Type);
        await peer.SendAsync(MessageType.SourceProof, RandomNumberGenerator.GetBytes(32));
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.AuthenticationFailed, error?.Code);
        Assert.False(File.Exists(f.VolumePath));
        await WaitForAsync(() => f.Rejected.Count > 0);
    }

    [Fact]
    public async Task An_oversized_frame_ends_the_session_without_touching_the_volume()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        byte[] header = new byte[8];
        new FrameHeader(0, MessageType.Data, 0).Write(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header, ProtocolConstants.MaxPayload + 1);
        await peer.SendRawAsync(header);
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.Oversized, error?.Code);
        Assert.Equal(TransferErrorCode.Oversized, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task An_unknown_frame_type_ends_the_session()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        await peer.SendAsync((MessageType)0x7E, new byte[3]);
        Assert.Equal(TransferErrorCode.UnknownMessage, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.UnknownMessage, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task A_truncated_frame_is_dropped_and_the_session_waits_for_a_reconnect()
    {
        await using var f = Fixture.Start();
        await using (var peer = await f.AuthenticatedAsync())
        {
            byte[] batch = RawPeer.IndexBatch(0, [new byte[BlockSize]]);
            byte[] header = new byte[8];
            new FrameHeader(batch.Length, MessageType.IndexBatch, 0).Write(header);
            await peer.SendRawAsync([.. header, .. batch.AsSpan(0, 10)]);
        }

        // The destination treats it as a lost connection: still running, volume untouched, index cursor unchanged.
        await using var again = await f.ConnectAsync();
        var resume = await again.AuthenticateAsync(f.Secret, f.Id, Blocks * BlockSize, BlockSize);
        Assert.Equal(0, resume.IndexCursor);
        Assert.False(f.Run.IsCompleted);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task An_index_batch_past_the_volume_is_out_of_range()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        var blocks = Enumerable.Range(0, Blocks + 1).Select(i => RandomNumberGenerator.GetBytes(BlockSize));
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, blocks));
        Assert.Equal(TransferErrorCode.OutOfRange, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.OutOfRange, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    /// <summary>Runs the index phase by hand (all blocks random, so all requested) and returns the peer in the copy phase.</summary>
    private static async Task<(RawPeer Peer, byte[][] Blocks)> InCopyPhaseAsync(Fixture f)
    {
        var peer = await f.AuthenticatedAsync();
        byte[][] blocks = Enumerable.Range(0, Blocks).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, blocks));
        byte[] end = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(end, Blocks);
        await peer.SendAsync(MessageType.IndexEnd, end);
        var request = await peer.ReadAsync();
        Assert.Equal(MessageType.Request, request.Type);
        var requestEnd = await peer.ReadAsync();
        Assert.Equal(MessageType.RequestEnd, requestEnd.Type);
        Assert.Equal(Blocks, RequestEndMessage.Parse(requestEnd.Payload.Span).Requested);
        return (peer, blocks);
    }

    [Fact]
    public async Task A_data_frame_with_a_run_outside_the_volume_is_not_applied_at_all()
    {
        await using var f = Fixture.Start();
        var (peer, blocks) = await InCopyPhaseAsync(f);
        await using var _ = peer;
        // The first run is fine, the second is past the end: nothing of the frame may reach the volume.
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 1, false), (Blocks, 1, false)], [.. blocks[0], .. blocks[1]]));
        Assert.Equal(TransferErrorCode.OutOfRange, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.OutOfRange, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    [Theory]
    [InlineData(0, 2, 3, TransferErrorCode.BadFrame)] // FenceEnd counts more blocks than the Fence frames listed
    [InlineData(Blocks - 1, 2, 2, TransferErrorCode.OutOfRange)] // a fenced run past the end of the volume
    public async Task A_fence_announcement_that_does_not_add_up_is_rejected(long start, long count, long total, TransferErrorCode expected)
    {
        await using var f = Fixture.Start();
        var (peer, _) = await InCopyPhaseAsync(f);
        await using var _ = peer;
        byte[] runs = new byte[4 + 16];
        BinaryPrimitives.WriteUInt32LittleEndian(runs, 1);
        BinaryPrimitives.WriteUInt64LittleEndian(runs.AsSpan(4), (ulong)start);
        BinaryPrimitives.WriteUInt64LittleEndian(runs.AsSpan(12), (ulong)count);
        await peer.SendAsync(MessageType.Fence, runs);
        byte[] end = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(end, (ulong)total);
        await peer.SendAsync(MessageType.FenceEnd, end);
        Assert.Equal(expected, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(expected, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task A_data_frame_whose_length_does_not_match_its_runs_is_rejected()
    {
        await using var f = Fixture.Start();
        var (peer, blocks) = await InCopyPhaseAsync(f);
        await using var _ = peer;
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 2, false)], blocks[0]));
        Assert.Equal(TransferErrorCode.BadFrame, (await peer.ReadErrorThenCloseAsync())?.Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task Corrupt_compressed_data_is_rejected()
    {
        await using var f = Fixture.Start();
        var (peer, _) = await InCopyPhaseAsync(f);
        await using var __ = peer;
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 1, false)], RandomNumberGenerator.GetBytes(100)), ProtocolConstants.FlagCompressed);
        Assert.Equal(TransferErrorCode.BadFrame, (await peer.ReadErrorThenCloseAsync())?.Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task A_replayed_data_frame_is_rejected()
    {
        await using var f = Fixture.Start();
        var (peer, blocks) = await InCopyPhaseAsync(f);
        await using var _ = peer;
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 1, false)], blocks[0]));
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(1, 1, false)], blocks[1]));
        Assert.Equal(TransferErrorCode.OutOfRange, (await peer.ReadErrorThenCloseAsync())?.Code);
        byte[] volume = File.ReadAllBytes(f.VolumePath);
        Assert.True(volume.AsSpan(0, BlockSize).SequenceEqual(blocks[0]));
        Assert.True(Array.TrueForAll(volume[BlockSize..], b => b == 0), "the replayed frame was applied");
    }

    [Fact]
    public async Task A_final_digest_that_does_not_match_is_a_verification_failure()
    {
        await using var f = Fixture.Start();
        var (peer, blocks) = await InCopyPhaseAsync(f);
        await using var _ = peer;
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, Blocks, false)], blocks.SelectMany(b => b).ToArray()));
        byte[] finalEnd = new byte[40];
        BinaryPrimitives.WriteUInt64LittleEndian(finalEnd, 1);
        RandomNumberGenerator.Fill(finalEnd.AsSpan(8));
        await peer.SendAsync(MessageType.FinalEnd, finalEnd);
        Assert.Equal(TransferErrorCode.VerificationFailed, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.VerificationFailed, (await f.FailureAsync()).Code);
    }

    [Fact]
    public async Task A_frame_from_the_wrong_phase_is_unexpected()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 1, false)], new byte[BlockSize]));
        Assert.Equal(TransferErrorCode.UnexpectedMessage, (await peer.ReadErrorThenCloseAsync())?.Code);
        f.AssertVolumeAllZero();
    }

    private static byte[] IndexEnd()
    {
        byte[] end = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(end, Blocks);
        return end;
    }

    /// <summary>Block 0 as a fingerprint, block 1 as a repeat of it, blocks 2.. as one zero run.</summary>
    private static byte[] BatchWithRepeat(byte[] block0, ulong repeatDistance = 1)
    {
        var batch = new List<byte>(new byte[8]);
        batch.Add(ProtocolConstants.EntryFingerprint);
        byte[] fingerprint = new byte[FingerprintPrefix.Size];
        FingerprintPrefix.Of(Fingerprint.Compute(block0)).WriteTo(fingerprint);
        batch.AddRange(fingerprint);
        batch.Add(ProtocolConstants.EntryRepeat);
        batch.Add((byte)repeatDistance);
        batch.Add(ProtocolConstants.EntryZeroRun);
        batch.Add(Blocks - 2);
        return [.. batch];
    }

    [Fact]
    public async Task Misses_are_requested_batch_by_batch_and_their_data_is_taken_before_the_index_ends()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        byte[][] blocks = Enumerable.Range(0, 4).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, blocks));
        var request = await peer.ReadAsync();
        Assert.Equal(MessageType.Request, request.Type);
        var runs = new List<BlockRun>();
        RequestMessage.Parse(request.Payload.Span, new VolumeGeometry(Blocks * BlockSize, BlockSize), runs);
        Assert.Equal([new BlockRun(0, 4)], runs);

        // The index has reached block 4: data for the requested blocks is applied although the index goes on.
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 4, false)], [.. blocks.SelectMany(b => b)]));
        byte[][] rest = Enumerable.Range(4, 4).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(4, rest));
        Assert.Equal(MessageType.Request, (await ReadSkippingAcksAsync(peer)).Type);
        await peer.SendAsync(MessageType.IndexEnd, IndexEnd());
        var end = await ReadSkippingAcksAsync(peer);
        Assert.Equal(MessageType.RequestEnd, end.Type);
        Assert.Equal(8, RequestEndMessage.Parse(end.Payload.Span).Requested);
        byte[] volume = File.ReadAllBytes(f.VolumePath);
        Assert.True(volume.AsSpan(0, 4 * BlockSize).SequenceEqual(blocks.SelectMany(b => b).ToArray()));
    }

    [Fact]
    public async Task Data_for_blocks_the_index_has_not_reached_is_unexpected()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        byte[][] blocks = Enumerable.Range(0, 2).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, blocks));
        Assert.Equal(MessageType.Request, (await peer.ReadAsync()).Type);
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(1, 2, false)], [.. blocks[1], .. blocks[0]]));
        Assert.Equal(TransferErrorCode.UnexpectedMessage, (await peer.ReadErrorThenCloseAsync())?.Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task A_repeat_of_more_entries_than_were_listed_is_out_of_range()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        await peer.SendAsync(MessageType.IndexBatch, BatchWithRepeat(RandomNumberGenerator.GetBytes(BlockSize), repeatDistance: 2));
        Assert.Equal(TransferErrorCode.OutOfRange, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.OutOfRange, (await f.FailureAsync()).Code);
        f.AssertVolumeAllZero();
    }

    [Fact]
    public async Task A_repeat_that_does_not_hold_fails_verification_and_never_completes()
    {
        // A source (or a fingerprint collision) claiming block 1 equals block 0 when it does not: the destination
        // builds block 1 from block 0, and the end-to-end digest over the real fingerprints exposes it.
        await using var f = Fixture.Start();
        await using var peer = await f.AuthenticatedAsync();
        byte[] block0 = RandomNumberGenerator.GetBytes(BlockSize), block1 = RandomNumberGenerator.GetBytes(BlockSize);
        await peer.SendAsync(MessageType.IndexBatch, BatchWithRepeat(block0));
        var request = await peer.ReadAsync();
        Assert.Equal(MessageType.Request, request.Type);
        await peer.SendAsync(MessageType.IndexEnd, IndexEnd());
        Assert.Equal(MessageType.RequestEnd, (await peer.ReadAsync()).Type);
        await peer.SendAsync(MessageType.Data, RawPeer.Data(1, [(0, 1, false)], block0));

        var zero = Fingerprint.Compute(new byte[BlockSize]);
        Fingerprint[] truth = [Fingerprint.Compute(block0), Fingerprint.Compute(block1), .. Enumerable.Repeat(zero, Blocks - 2)];
        byte[] finalEnd = new byte[8 + ProtocolConstants.DigestSize];
        BinaryPrimitives.WriteUInt64LittleEndian(finalEnd, 1);
        VolumeDigest.Compute(new VolumeGeometry(Blocks * BlockSize, BlockSize), truth).CopyTo(finalEnd, 8);
        await peer.SendAsync(MessageType.FinalEnd, finalEnd);
        Assert.Equal(TransferErrorCode.VerificationFailed, (await peer.ReadErrorThenCloseAsync())?.Code);
        Assert.Equal(TransferErrorCode.VerificationFailed, (await f.FailureAsync()).Code);
    }

    /// <summary>The next frame that is not an Ack (the destination acknowledges data whenever a checkpoint is due).</summary>
    private static async Task<Frame> ReadSkippingAcksAsync(RawPeer peer)
    {
        while (true)
        {
            var frame = await peer.ReadAsync();
            if (frame.Type != MessageType.Ack)
                return frame;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition());
    }
}
