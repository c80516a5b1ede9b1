using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Tests.Support;

/// <summary>A hand-driven NBD client over a raw socket, for sending malformed or hostile traffic.</summary>
internal sealed class RawNbdConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawNbdConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<RawNbdConnection> ConnectAsync(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new RawNbdConnection(socket);
    }

    /// <summary>Reads the greeting and sends the client flags.</summary>
    public async Task GreetAsync(NbdHandshakeFlags flags = NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes)
    {
        byte[] greeting = await ReadExactAsync(18);
        Assert.Equal(NbdMagic.InitPassword, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(NbdMagic.OptionRequest, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        byte[] reply = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(reply, (uint)flags);
        await SendAsync(reply);
    }

    public Task SendOptionAsync(NbdOption option, byte[] data) => SendAsync(NbdOptionCodec.BuildRequest(option, data));

    public async Task<(NbdOptionReplyType Type, byte[] Data)> ReadOptionReplyAsync(NbdOption expected)
    {
        byte[] header = await ReadExactAsync(NbdMagic.OptionReplyHeaderLength);
        Assert.Equal(NbdMagic.OptionReply, BinaryPrimitives.ReadUInt64BigEndian(header));
        Assert.Equal((uint)expected, BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8)));
        var type = (NbdOptionReplyType)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        int length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        return (type, await ReadExactAsync(length));
    }

    /// <summary>Greets and enters transmission with NBD_OPT_GO; returns size and flags.</summary>
    public async Task<(long Size, NbdTransmissionFlags Flags)> GoAsync(string export)
    {
        await GreetAsync();
        await SendOptionAsync(NbdOption.Go, NbdOptionCodec.BuildInfoRequest(export, []));
        long size = -1;
        var flags = NbdTransmissionFlags.None;
        while (true)
        {
            (var type, byte[] data) = await ReadOptionReplyAsync(NbdOption.Go);
            if (type == NbdOptionReplyType.Ack)
            {
                return (size, flags);
            }

            Assert.Equal(NbdOptionReplyType.Info, type);
            if ((NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data) == NbdInfoType.Export)
            {
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
                flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
            }
        }
    }

    public Task SendRequestAsync(NbdCommand command, ulong cookie, ulong offset, uint length, NbdCommandFlags flags = NbdCommandFlags.None, byte[]? payload = null)
    {
        byte[] bytes = new byte[NbdMagic.RequestHeaderLength + (payload?.Length ?? 0)];
        NbdRequestCodec.Write(bytes, new NbdRequest(flags, command, cookie, offset, length));
        payload?.CopyTo(bytes, NbdMagic.RequestHeaderLength);
        return SendAsync(bytes);
    }

    /// <summary>Reads a simple reply header: (error, cookie).</summary>
    public async Task<(NbdError Error, ulong Cookie)> ReadSimpleReplyAsync()
    {
        byte[] header = await ReadExactAsync(NbdMagic.SimpleReplyHeaderLength);
        Assert.Equal(NbdMagic.SimpleReply, BinaryPrimitives.ReadUInt32BigEndian(header));
        return ((NbdError)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
    }

    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    public async Task<byte[]> ReadExactAsync(int count)
    {
        byte[] bytes = new byte[count];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _stream.ReadExactlyAsync(bytes, timeout.Token);
        return bytes;
    }

    /// <summary>True when the server closed the connection (reads end) within 10 seconds.</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        byte[] buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            while (true)
            {
                int read = await _stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public static string Text(byte[] data) => Encoding.UTF8.GetString(data);

    public void Abort() => _socket.Close(0);

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync();
}
