using System.Net.Security;
using System.Net.Sockets;

namespace Teleport.Host.Relay;

/// <summary>
/// The source side's WAN connections: TCP to the destination's relay (no Nagle: post-copy's page requests are small
/// and waited for), mutual TLS when configured, then the hello and the destination's answer within the handshake timeout.
/// </summary>
internal sealed class RelayConnector(string host, int port, RelaySettings settings)
{
    public string Peer => $"{host}:{port}";

    /// <summary>Opens a connection and says <paramref name="hello"/>.</summary>
    /// <returns>The link, and the token the destination answered with.</returns>
    /// <exception cref="RelayRefusedException">The destination answered with a refusal.</exception>
    public async Task<(RelayLink Link, UInt128 Token)> OpenAsync(RelayHello hello, CancellationToken cancellationToken)
    {
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        handshake.CancelAfter(settings.HandshakeTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(host, port, handshake.Token).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (settings.Tls is { } tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), handshake.Token).ConfigureAwait(false);
            }

            await stream.WriteAsync(hello.Encode(), handshake.Token).ConfigureAwait(false);
            byte[] reply = new byte[RelayHello.ReplySize];
            await stream.ReadExactlyAsync(reply, handshake.Token).ConfigureAwait(false);
            var (status, token, received) = RelayHello.DecodeReply(reply);
            if (status != RelayHello.Accepted)
                throw new RelayRefusedException(status, $"the destination's relay at {Peer} refused the channel: {RelayHello.Describe(status)}");
            return (new RelayLink(stream, received), token);
        }
        catch (Exception e)
        {
            if (stream is not null)
                await stream.DisposeAsync().ConfigureAwait(false);
            socket.Dispose();
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw new TimeoutException($"no relay handshake with {Peer} within {settings.HandshakeTimeout.TotalSeconds:0.#} s");
            throw;
        }
    }
}
