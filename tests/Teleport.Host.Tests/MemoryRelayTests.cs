using System.Net.Security;
using System.Net.Sockets;
using Teleport.Host.Relay;
using Teleport.Host.Tests.Support;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Tests;

/// <summary>
/// The memory relay alone, over real TCP and Unix sockets: the test plays both QEMUs and cuts the WAN leg. Bytes must
/// arrive exactly once and in order in both directions whatever the cuts; strangers are refused before anything
/// reaches QEMU; the bytes held for a resend stay bounded; a link that stays down closes QEMU's sockets.
/// </summary>
public sealed class MemoryRelayTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task BytesBothWays_ArriveExactlyOnceInOrder_AcrossThreeCuts_OnTwoChannels(bool tls)
    {
        using var authority = tls ? await TestCertificates.CreateAsync() : null;
        var credentials = authority is null ? ((NbdTlsCredentials, NbdTlsCredentials)?)null
            : (NbdTlsCredentials.ForServer(await authority.ServerDirectoryAsync("host-dst")), NbdTlsCredentials.ForClient(await authority.ClientDirectoryAsync("host-src")));
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60), tls: credentials);
        // Channels are opened in order: the incoming side connects to its QEMU in the order the source's connected.
        using var source0 = await rig.ConnectSourceAsync();
        using var destination0 = await rig.AcceptDestinationAsync();
        using var source1 = await rig.ConnectSourceAsync();
        using var destination1 = await rig.AcceptDestinationAsync();

        // Paced (a 64 KiB chunk every 10 ms): the streams are still flowing when the link is cut.
        var flows = new[]
        {
            Flow(source0, destination0, seed: 1, bytes: 32L << 20), Flow(destination0, source0, seed: 2, bytes: 6L << 20),
            Flow(source1, destination1, seed: 3, bytes: 8L << 20), Flow(destination1, source1, seed: 4, bytes: 2L << 20),
        };
        for (int cut = 0; cut < 3; cut++)
        {
            await Task.Delay(600);
            rig.Link.Cut();
            await Task.Delay(300);
            rig.Link.Restore();
        }

        long[] received = await Task.WhenAll(flows);
        Assert.Equal([32L << 20, 6L << 20, 8L << 20, 2L << 20], received);
        Assert.True(rig.LinesWith("resumed after").Length >= 3, string.Join('\n', rig.Logs.Lines));
        Assert.Contains(rig.Logs.Lines, l => l.Contains("link broke", StringComparison.Ordinal));
        Assert.True(rig.Link.Accepted >= 5, $"{rig.Link.Accepted} WAN connection(s): the source reconnected after each cut");
        Assert.Empty(rig.LinesWith("failed"));
    }

    [Fact]
    public async Task AfterEveryChannelEnded_ALateResumeLearnsItWasDelivered_ThenTheRelayStopsListening_SoAFixedPortIsFree()
    {
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60), finishedGrace: TimeSpan.FromSeconds(3));
        using (var source = await rig.ConnectSourceAsync())
        using (var destination = await rig.AcceptDestinationAsync())
        {
            Assert.True(rig.Incoming.Listening, "the relay listens while its channel is open (a resume comes there)");
            long[] received = await Task.WhenAll(Flow(source, destination, seed: 5, bytes: 1L << 20), Flow(destination, source, seed: 6, bytes: 64L << 10));
            Assert.Equal([1L << 20, 64L << 10], received);
        }

        // A source whose link broke before the last ack reached it resumes: the answer says the channel is done.
        var channel = Assert.Single(rig.Incoming.Channels);
        for (int i = 0; i < 100 && !channel.Delivered; i++)
            await Task.Delay(50);
        using (var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await late.ConnectAsync(rig.IncomingEndPoint);
            await late.SendAsync(new RelayHello(RelayHello.Resume, channel.Token, 1L << 20).Encode());
            byte[] reply = new byte[RelayHello.ReplySize];
            using var stream = new NetworkStream(late);
            await stream.ReadExactlyAsync(reply);
            Assert.Equal(RelayHello.Finished, RelayHello.DecodeReply(reply).Status);
        }

        for (int i = 0; i < 100 && rig.Incoming.Listening; i++)
            await Task.Delay(100);
        Assert.False(rig.Incoming.Listening, string.Join('\n', rig.Logs.Lines));
        Assert.Single(rig.LinesWith("stopped listening"));
        Assert.Empty(rig.LinesWith("failed"));
        await using var next = IncomingMemoryRelay.Start(rig.IncomingEndPoint, _dir.File("next.sock"),
            new RelaySettings("vm-next", TimeSpan.FromSeconds(60), null, rig.Logs.CreateLogger("next")));
        Assert.Equal(rig.Incoming.Port, next.Port);
    }

    [Fact]
    public async Task ConnectionsStillInTheirHandshake_AreBoundedPerAddress_TheNextIsClosedAtOnce()
    {
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60));
        var silent = new List<Socket>();
        try
        {
            for (int i = 0; i < RelaySettings.MaxHandshakesPerPeer; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(rig.IncomingEndPoint);
                silent.Add(socket);
            }

            using var extra = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await extra.ConnectAsync(rig.IncomingEndPoint);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            // Closed by the relay long before its 10 s handshake timeout: nothing read, the end of the stream.
            Assert.Equal(0, await extra.ReceiveAsync(new byte[1], SocketFlags.None, timeout.Token));
            Assert.Single(rig.LinesWith("connections from this address are open"));
            Assert.Equal(0, rig.DestinationConnections);
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task WhileTheLinkIsCut_HeldBytesStopAtTheBound_TheWriterWaits_NothingIsLost()
    {
        const int bound = 1 << 20;
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60), retainBytes: bound);
        using var source = await rig.ConnectSourceAsync();
        using var destination = await rig.AcceptDestinationAsync();
        // The source side registers its channel once the destination's answer is in, just after the destination connected.
        await Poll.Until(() => rig.Outgoing.Channels.Count == 1, "the source relay's channel");
        var channel = Assert.Single(rig.Outgoing.Channels);
        rig.Link.Cut();

        var writing = WritePatternAsync(source, seed: 5, bytes: 16L << 20, pause: TimeSpan.Zero);
        await Poll.Until(() => channel.Held == bound, "the source relay to hold its whole retention bound");
        long most = 0;
        for (int i = 0; i < 20; i++)
        {
            most = Math.Max(most, channel.Held);
            await Task.Delay(50);
        }

        Assert.Equal(bound, most);
        Assert.False(writing.IsCompleted, "the source QEMU's writes wait while the relay holds its bound (backpressure)");

        rig.Link.Restore();
        Assert.Equal(16L << 20, await ReadPatternAsync(destination, seed: 5));
        await writing;
        Assert.True(channel.Held <= bound);
    }

    [Fact]
    public async Task LinkDownPastTheRecoveryWindow_ClosesBothQemuSockets_AndSaysSo()
    {
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(2));
        using var source = await rig.ConnectSourceAsync();
        using var destination = await rig.AcceptDestinationAsync();
        await WritePatternAsync(source, seed: 6, bytes: 1 << 20, pause: TimeSpan.Zero, end: false);
        await ReadExactlyPatternAsync(destination, seed: 6, bytes: 1 << 20);

        rig.Link.Cut();
        // Each QEMU sees its migration connection end (EOF or reset) once the window has passed.
        Assert.True(await ClosedWithinAsync(destination, TimeSpan.FromSeconds(20)), "the incoming QEMU's socket was closed");
        Assert.True(await ClosedWithinAsync(source, TimeSpan.FromSeconds(20)), "the source QEMU's socket was closed");
        Assert.Contains(rig.LinesWith("did not come back within 2 s"), l => l.Contains("vm-in", StringComparison.Ordinal));
        Assert.Contains(rig.LinesWith("did not come back within 2 s"), l => l.Contains("vm-out", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Garbage_UnknownToken_AndOversizedFrame_AreRefused_NothingReachesQemu()
    {
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60));

        byte[] garbage = "GET / HTTP/1.1\r\nHost: teleport\r\n\r\n"u8[..RelayHello.Size].ToArray();
        Assert.Equal(RelayHello.BadHello, (await HelloAsync(rig, garbage)).Status);
        Assert.Equal(RelayHello.UnknownSession, (await HelloAsync(rig, new RelayHello(RelayHello.Resume, RelayHello.NewToken(), 0).Encode())).Status);
        Assert.False(await rig.DestinationConnectedWithinAsync(TimeSpan.FromMilliseconds(500)), "a refused connection reached QEMU's socket");
        Assert.Contains(rig.LinesWith("refused a connection"), l => l.Contains("not a relay hello", StringComparison.Ordinal));
        Assert.Contains(rig.LinesWith("refused a connection"), l => l.Contains("unknown session token", StringComparison.Ordinal));

        // An accepted channel whose peer then sends a frame longer than any allowed: the channel ends, QEMU gets nothing.
        using var client = await ConnectAsync(rig);
        var stream = new NetworkStream(client);
        await stream.WriteAsync(new RelayHello(RelayHello.Open, 0, 0).Encode());
        using var destination = await rig.AcceptDestinationAsync();
        Assert.Equal(RelayHello.Accepted, await ReplyStatusAsync(stream));
        byte[] oversized = new byte[RelayFrame.HeaderSize + 4096];
        RelayFrame.Write(oversized, RelayFrame.Data, 1 << 20);
        await stream.WriteAsync(oversized);
        Assert.Equal(0, await ReadPatternAsync(destination, seed: 0));
        Assert.Contains(rig.LinesWith("failed"), l => l.Contains("a data frame of 1048576 bytes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OverTls_AClientOfAnotherAuthority_OrNoTls_IsRefused_NothingReachesQemu()
    {
        using var authority = await TestCertificates.CreateAsync();
        using var stranger = await TestCertificates.CreateAsync("another-ca");
        var credentials = (NbdTlsCredentials.ForServer(await authority.ServerDirectoryAsync("host-dst")), NbdTlsCredentials.ForClient(await authority.ClientDirectoryAsync("host-src")));
        await using var rig = RelayRig.Start(_dir, TimeSpan.FromSeconds(60), tls: credentials);
        // The stranger's client certificate, trusting the real server's CA: the server must refuse it.
        var impostor = NbdTlsCredentials.ForClient(await stranger.ClientDirectoryAsync("host-src"));
        using (var client = await ConnectAsync(rig))
        {
            var ssl = new SslStream(new NetworkStream(client), leaveInnerStreamOpen: false);
            var options = impostor.ClientOptions("127.0.0.1");
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                await ssl.AuthenticateAsClientAsync(options);
                await ssl.WriteAsync(new RelayHello(RelayHello.Open, 0, 0).Encode());
                Assert.Equal(0, await ssl.ReadAsync(new byte[RelayHello.ReplySize]));
                throw new IOException("closed without an answer");
            });
        }

        byte[] answer = await PlainHelloAnswerAsync(rig);
        Assert.False(answer.Length >= RelayHello.ReplySize && answer[0] == RelayHello.Accepted, "a plain client was answered as a relay");
        Assert.False(await rig.DestinationConnectedWithinAsync(TimeSpan.FromMilliseconds(500)), "an unauthenticated connection reached QEMU's socket");
        Assert.True(rig.LinesWith("refused a connection").Length >= 2, string.Join('\n', rig.Logs.Lines));
    }

    // A plain hello sent to the TLS listener: what comes back before the connection ends (a TLS alert, or nothing).
    private static async Task<byte[]> PlainHelloAnswerAsync(RelayRig rig)
    {
        using var client = await ConnectAsync(rig);
        var stream = new NetworkStream(client);
        await stream.WriteAsync(new RelayHello(RelayHello.Open, 0, 0).Encode());
        byte[] answer = new byte[64];
        int length = 0;
        try
        {
            int read;
            while (length < answer.Length && (read = await stream.ReadAsync(answer.AsMemory(length))) > 0)
                length += read;
        }
        catch (IOException)
        {
            // Reset: the listener dropped it.
        }

        return answer[..length];
    }

    private static async Task<Socket> ConnectAsync(RelayRig rig)
    {
        var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(rig.IncomingEndPoint);
        return client;
    }

    private static async Task<(byte Status, UInt128 Token, long Received)> HelloAsync(RelayRig rig, byte[] hello)
    {
        using var client = await ConnectAsync(rig);
        var stream = new NetworkStream(client);
        await stream.WriteAsync(hello);
        byte[] reply = new byte[RelayHello.ReplySize];
        await stream.ReadExactlyAsync(reply);
        return RelayHello.DecodeReply(reply);
    }

    private static async Task<byte> ReplyStatusAsync(Stream stream)
    {
        byte[] reply = new byte[RelayHello.ReplySize];
        await stream.ReadExactlyAsync(reply);
        return reply[0];
    }

    // One direction of a channel: paced writes of a position-derived pattern, read back and checked byte by byte.
    private static async Task<long> Flow(Socket from, Socket to, int seed, long bytes)
    {
        var writing = WritePatternAsync(from, seed, bytes, TimeSpan.FromMilliseconds(10));
        long read = await ReadPatternAsync(to, seed);
        await writing;
        return read;
    }

    private static byte Pattern(long position, int seed) => (byte)((((ulong)position + ((ulong)seed << 40)) * 0x9E3779B97F4A7C15UL) >> 56);

    private static async Task WritePatternAsync(Socket socket, int seed, long bytes, TimeSpan pause, bool end = true)
    {
        await Task.Yield();
        using var stream = new NetworkStream(socket, ownsSocket: false);
        byte[] chunk = new byte[64 * 1024];
        for (long at = 0; at < bytes;)
        {
            int length = (int)Math.Min(chunk.Length, bytes - at);
            for (int i = 0; i < length; i++)
                chunk[i] = Pattern(at + i, seed);
            await stream.WriteAsync(chunk.AsMemory(0, length));
            at += length;
            if (pause > TimeSpan.Zero)
                await Task.Delay(pause);
        }

        if (end)
            socket.Shutdown(SocketShutdown.Send);
    }

    // Reads to the end of the stream; every byte must be the pattern's at its position (nothing lost, repeated or reordered).
    private static async Task<long> ReadPatternAsync(Socket socket, int seed)
    {
        byte[] buffer = new byte[64 * 1024];
        long at = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            for (int i = 0; i < read; i++, at++)
            {
                if (buffer[i] != Pattern(at, seed))
                    throw new Xunit.Sdk.XunitException($"stream {seed}: byte {at} is {buffer[i]}, expected {Pattern(at, seed)}");
            }
        }

        return at;
    }

    private static async Task ReadExactlyPatternAsync(Socket socket, int seed, long bytes)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        byte[] buffer = new byte[(int)bytes];
        await stream.ReadExactlyAsync(buffer);
        for (int i = 0; i < buffer.Length; i++)
            Assert.Equal(Pattern(i, seed), buffer[i]);
    }

    private static async Task<bool> ClosedWithinAsync(Socket socket, TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            return await socket.ReceiveAsync(new byte[1], timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
