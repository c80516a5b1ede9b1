using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Client;

/// <summary>
/// A client's connection up to option haggling: the socket, its stream (TLS once started), the reader over it and
/// the handshake that greeted the server and, with credentials, ran NBD_OPT_STARTTLS.
/// </summary>
internal sealed class NbdClientChannel
{
    private NbdClientChannel(Socket socket, StartTlsStream stream, PipeReader reader)
    {
        Socket = socket;
        Stream = stream;
        Reader = reader;
        Handshake = new NbdClientHandshake(reader, stream);
    }

    public Socket Socket { get; }

    public StartTlsStream Stream { get; }

    public PipeReader Reader { get; }

    public NbdClientHandshake Handshake { get; }

    /// <summary>Connects, reads the greeting and, when <paramref name="tls"/> is given, starts TLS before any other option.</summary>
    public static async Task<NbdClientChannel> OpenAsync(EndPoint endPoint, NbdTls? tls, CancellationToken cancellationToken)
    {
        var socket = await ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        var stream = new StartTlsStream(new NetworkStream(socket, ownsSocket: true));
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        var channel = new NbdClientChannel(socket, stream, reader);
        try
        {
            await channel.Handshake.GreetAsync(cancellationToken).ConfigureAwait(false);
            if (tls is not null)
            {
                await channel.Handshake.StartTlsAsync(tls, TargetHostOf(endPoint), cancellationToken).ConfigureAwait(false);
            }

            return channel;
        }
        catch
        {
            await channel.CloseAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task CloseAsync()
    {
        await Reader.CompleteAsync().ConfigureAwait(false);
        await Stream.DisposeAsync().ConfigureAwait(false);
    }

    // The name is sent as SNI only: the server's certificate is checked against the CA, not against a host name.
    private static string TargetHostOf(EndPoint endPoint) => endPoint switch
    {
        DnsEndPoint dns => dns.Host,
        IPEndPoint ip => ip.Address.ToString(),
        _ => "localhost",
    };

    private static async Task<Socket> ConnectAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        bool unix = endPoint is UnixDomainSocketEndPoint;
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            if (!unix)
            {
                socket.NoDelay = true;
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
