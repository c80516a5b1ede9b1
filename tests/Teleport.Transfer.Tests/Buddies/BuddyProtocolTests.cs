using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Buddies;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests.Buddies;

/// <summary>The buddy channel's frames on a real server over mutual TLS: malformed ones are refused and nothing else breaks.</summary>
public sealed class BuddyProtocolTests
{
    [Theory]
    [InlineData(3, 1)] // announces three prefixes, carries one
    [InlineData(0, 0)] // an empty lookup
    [InlineData(1, 2)] // a trailing prefix
    [InlineData(300, 300)] // more than one lookup may name
    public async Task A_malformed_lookup_gets_an_error_and_the_buddy_keeps_serving(int announced, int carried)
    {
        await using var rig = new BuddyRig(blocks: 8, changed: 0);
        var buddy = rig.StartBuddy();
        await using var c = await ConnectAsync(rig, buddy);

        byte[] payload = new byte[2 + (carried * FingerprintPrefix.Size)];
        BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)announced);
        await c.SendAsync(MessageType.BuddyLookup, payload, CancellationToken.None);
        var error = await Assert.ThrowsAsync<TransferException>(() => c.ExpectAsync(MessageType.BuddyBlocks, CancellationToken.None).AsTask());

        Assert.True(error.Remote);
        Assert.Contains(error.Code, new[] { TransferErrorCode.BadFrame, TransferErrorCode.OutOfRange });
        Assert.Equal(0, rig.Server.BlocksServed);
        // The next buddy is served as if nothing happened.
        var (found, wrong) = await LookupBaseAsync(rig, buddy, 8);
        Assert.Equal(0, wrong);
        Assert.All(found, Assert.True);
    }

    [Fact]
    public async Task A_destination_asking_for_another_block_size_is_told_so()
    {
        await using var rig = new BuddyRig(blocks: 4, changed: 0);
        var buddy = rig.StartBuddy();
        await using var client = new BuddyClient(new BuddyPeer(BuddyRig.BuddyId, buddy), rig.Buddies(buddy), NullLogger.Instance);

        int result = await client.LookupAsync(new FingerprintPrefix[1], 8192, new byte[8192], new Fingerprint[1], new bool[1], CancellationToken.None);

        Assert.Equal(-1, result);
        Assert.False(client.Available);
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 1, 0 }, "answers 2 prefixes; 1 were asked")]
    [InlineData(new byte[] { 1, 0, 2 }, "flag 2")]
    [InlineData(new byte[] { 1, 0, 0, 9 }, "trailing")]
    [InlineData(new byte[] { 1, 0, 1, 9 }, "truncated")]
    public void A_malformed_answer_is_refused_before_any_block_is_used(byte[] payload, string why)
    {
        var error = Assert.Throws<TransferException>(() => BuddyMessages.ParseBlocks(payload, 1, 4096, out _).Length);
        Assert.Contains(why, error.Message);
    }

    private static async Task<TransferConnection> ConnectAsync(BuddyRig rig, IPEndPoint buddy)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(buddy);
        var tls = rig.Buddies(buddy).Tls with { PeerName = BuddyRig.BuddyId };
        var c = await TransferConnection.OpenClientAsync(new NetworkStream(socket, ownsSocket: true), tls, null, CancellationToken.None);
        byte[] hello = new byte[BuddyMessages.HelloSize];
        BuddyMessages.WriteHello(hello, VolumeBuilder.BlockSize);
        await c.SendAsync(MessageType.BuddyHello, hello, CancellationToken.None);
        await c.ExpectAsync(MessageType.BuddyHello, CancellationToken.None);
        return c;
    }

    private static async Task<(bool[] Found, int Wrong)> LookupBaseAsync(BuddyRig rig, IPEndPoint buddy, int blocks)
    {
        await using var client = new BuddyClient(new BuddyPeer(BuddyRig.BuddyId, buddy), rig.Buddies(buddy), NullLogger.Instance);
        var prefixes = new FingerprintPrefix[blocks];
        for (int i = 0; i < blocks; i++)
            prefixes[i] = FingerprintPrefix.Of(Fingerprint.Compute(rig.Base.AsSpan(i * VolumeBuilder.BlockSize, VolumeBuilder.BlockSize)));
        bool[] found = new bool[blocks];
        int wrong = await client.LookupAsync(prefixes, VolumeBuilder.BlockSize, new byte[blocks * VolumeBuilder.BlockSize],
            new Fingerprint[blocks], found, CancellationToken.None);
        return (found, wrong);
    }
}
