using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Tests;

/// <summary>Our client against a scripted, misbehaving server: clear exceptions, no hangs.</summary>
public sealed class ClientProtocolViolationTests
{
    [Fact]
    public async Task ReplyWithUnknownCookie_FailsTheCallWithAProtocolError()
    {
        await using var fake = await FakeServer.StartAsync(async (stream, header) =>
        {
            byte[] reply = new byte[16];
            NbdReplyCodec.WriteSimple(reply, NbdError.None, BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)) + 1000);
            await stream.WriteAsync(reply);
        });
        await using var client = await NbdClient.ConnectAsync(fake.EndPoint, "x", new NbdClientOptions { StructuredReplies = false });

        var error = await Assert.ThrowsAsync<NbdProtocolException>(() => client.FlushAsync().AsTask());
        Assert.Contains("unknown cookie", error.Message);
        var later = await Assert.ThrowsAsync<NbdConnectionException>(() => client.FlushAsync().AsTask());
        Assert.IsType<NbdProtocolException>(later.InnerException);
    }

    [Fact]
    public async Task ServerClosingInTheMiddleOfReadData_FailsTheCall()
    {
        await using var fake = await FakeServer.StartAsync(async (stream, header) =>
        {
            byte[] reply = new byte[16 + 100];
            NbdReplyCodec.WriteSimple(reply, NbdError.None, BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
            await stream.WriteAsync(reply);
            stream.Close();
        });
        await using var client = await NbdClient.ConnectAsync(fake.EndPoint, "x", new NbdClientOptions { StructuredReplies = false });

        await Assert.ThrowsAsync<NbdConnectionException>(() => client.ReadAsync(0, new byte[4096]).AsTask());
    }

    [Fact]
    public async Task StructuredChunkOutsideTheRequest_IsAProtocolError()
    {
        await using var fake = await FakeServer.StartAsync(async (stream, header) =>
        {
            byte[] chunk = new byte[20 + 8 + 16];
            NbdReplyCodec.WriteStructured(chunk, NbdReplyFlags.Done, NbdReplyType.OffsetData, BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)), 8 + 16);
            BinaryPrimitives.WriteUInt64BigEndian(chunk.AsSpan(20), 4096);
            await stream.WriteAsync(chunk);
        }, structured: true);
        await using var client = await NbdClient.ConnectAsync(fake.EndPoint, "x");
        Assert.True(client.StructuredReplies);

        var error = await Assert.ThrowsAsync<NbdProtocolException>(() => client.ReadAsync(0, new byte[16]).AsTask());
        Assert.Contains("outside the request", error.Message);
    }

    [Fact]
    public async Task NotAnNbdServer_IsReportedAsSuch()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serve = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await socket.SendAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray());
        });

        var error = await Assert.ThrowsAsync<NbdProtocolException>(() => NbdClient.ConnectAsync((IPEndPoint)listener.LocalEndpoint, "x"));
        Assert.Contains("NBDMAGIC", error.Message);
        await serve;
    }

    /// <summary>Speaks a minimal handshake (GO for any name), then answers each request with a script.</summary>
    private sealed class FakeServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task _loop;

        private FakeServer(TcpListener listener, Task loop)
        {
            _listener = listener;
            _loop = loop;
        }

        public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

        public static Task<FakeServer> StartAsync(Func<NetworkStream, byte[], Task> onRequest, bool structured = false)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return Task.FromResult(new FakeServer(listener, ServeAsync(listener, onRequest, structured)));
        }

        private static async Task ServeAsync(TcpListener listener, Func<NetworkStream, byte[], Task> onRequest, bool structured)
        {
            using var socket = await listener.AcceptSocketAsync();
            await using var stream = new NetworkStream(socket);
            byte[] greeting = new byte[18];
            BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPassword);
            BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdMagic.OptionRequest);
            BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), (ushort)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
            await stream.WriteAsync(greeting);
            await stream.ReadExactlyAsync(new byte[4]);
            while (true)
            {
                byte[] header = new byte[16];
                await stream.ReadExactlyAsync(header);
                var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
                await stream.ReadExactlyAsync(new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12))]);
                if (option == NbdOption.StructuredReply)
                {
                    await stream.WriteAsync(NbdOptionCodec.BuildReply(option, structured ? NbdOptionReplyType.Ack : NbdOptionReplyType.ErrorUnsupported, []));
                    continue;
                }

                byte[] info = new byte[12];
                BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), 1 << 20);
                BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), (ushort)(NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush));
                await stream.WriteAsync(NbdOptionCodec.BuildReply(option, NbdOptionReplyType.Info, info));
                await stream.WriteAsync(NbdOptionCodec.BuildReply(option, NbdOptionReplyType.Ack, []));
                break;
            }

            byte[] request = new byte[NbdMagic.RequestHeaderLength];
            try
            {
                while (true)
                {
                    await stream.ReadExactlyAsync(request);
                    await onRequest(stream, request);
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or ObjectDisposedException)
            {
                // The client hung up, as it should after a violation.
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
        }
    }
}
