using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
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
        var hello = RawPeer.Hello(f.Id, 4096, 4096);
        hello[0] ^= 0xFF;
        await peer.SendAsync(MessageType.Hello, hello);
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.BadFrame, error?.Code);
        Assert.Contains("another protocol", error!.Message);
    }

    [Fact]
    public async Task A_peer_with_another_protocol_version_is_refused()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        await peer.SendAsync(MessageType.Hello, RawPeer.Hello(f.Id, 4096, 4096, min: 2, max: 3));
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.UnsupportedVersion, error?.Code);
        Assert.Contains("1..1", error!.Message);
        Assert.False(File.Exists(f.VolumePath));
    }

    [Fact]
    public async Task A_peer_for_another_migration_is_refused()
    {
        await using var f = Fixture.Start();
        await using var peer = await f.ConnectAsync();
        await peer.SendAsync(MessageType.Hello, RawPeer.Hello(Guid.NewGuid(), 4096, 4096));
        var error = await peer.ReadErrorThenCloseAsync();
        Assert.Equal(TransferErrorCode.WrongMigration, error?.Code);
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
        var header = new byte[8];
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
            var batch = RawPeer.IndexBatch(0, [new byte[BlockSize]]);
            var header = new byte[8];
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
        var blocks = Enumerable.Range(0, Blocks).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        await peer.SendAsync(MessageType.IndexBatch, RawPeer.IndexBatch(0, blocks));
        var end = new byte[8];
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
        var finalEnd = new byte[40];
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

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (int i = 0; i < 200 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition());
    }
}
