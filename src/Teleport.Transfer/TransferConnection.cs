using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>One connection of a session: the (optionally TLS) stream with its frame reader and writer.</summary>
internal sealed class TransferConnection : IAsyncDisposable
{
    private readonly Stream _stream;

    private TransferConnection(Stream stream, TokenBucket? pacer)
    {
        _stream = stream;
        Reader = new FrameReader(stream);
        Writer = new FrameWriter(stream, pacer);
    }

    public FrameReader Reader { get; }

    public FrameWriter Writer { get; }

    /// <summary>Frame bytes both ways.</summary>
    public long Bytes => Reader.BytesRead + Writer.BytesWritten;

    public static async Task<TransferConnection> OpenClientAsync(Stream raw, TransferTls? tls, TokenBucket? pacer, CancellationToken ct)
    {
        if (tls is null)
            return new TransferConnection(raw, pacer);
        tls.ValidateMutual();
        if (!tls.Mutual && tls.PinnedPeerSha256 is not { Length: 32 })
            throw new ArgumentException("TLS on the source needs PinnedPeerSha256 (the SHA-256 of the destination certificate) or TrustedAuthorities");
        return await HandshakeAsync(raw, pacer, "destination", (ssl, check) => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = tls.TargetHost,
            ClientCertificateContext = tls.Certificate is null ? null : SslStreamCertificateContext.Create(tls.Certificate, null, offline: true),
            RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                (check.Problem = PeerCertificateCheck.Problem(tls, certificate, chain, peerIsServer: true)) is null,
        }, ct), static (e, check) => e is AuthenticationException || (e is IOException && check.Problem is not null)).ConfigureAwait(false);
    }

    /// <summary>
    /// Server side of the connection. <paramref name="checkPeer"/> replaces the client certificate check (null when
    /// acceptable, else why not): the buddy server accepts any of several storage ids.
    /// </summary>
    public static async Task<TransferConnection> OpenServerAsync(Stream raw, TransferTls? tls, CancellationToken ct,
        Func<X509Certificate?, X509Chain?, string?>? checkPeer = null)
    {
        if (tls is null)
            return new TransferConnection(raw, null);
        tls.ValidateMutual();
        var certificate = tls.Certificate ?? throw new ArgumentException("TLS on the destination needs a Certificate");
        bool clientCertificate = tls.Mutual || tls.PinnedPeerSha256 is not null;
        return await HandshakeAsync(raw, null, "source", (ssl, check) => ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = clientCertificate,
            RemoteCertificateValidationCallback = (_, c, chain, _) =>
                !clientCertificate || (check.Problem = checkPeer is null
                    ? PeerCertificateCheck.Problem(tls, c, chain, peerIsServer: false)
                    : checkPeer(c, chain)) is null,
        }, ct), static (e, _) => e is AuthenticationException or IOException).ConfigureAwait(false);
    }

    // The TLS handshake of either side: on any failure the stream is closed, and a refused handshake becomes
    // AuthenticationFailed with the reason the certificate check gave (else the TLS layer's own).
    private static async Task<TransferConnection> HandshakeAsync(Stream raw, TokenBucket? pacer, string peer,
        Func<SslStream, PeerCheck, Task> authenticate, Func<Exception, PeerCheck, bool> refused)
    {
        var check = new PeerCheck();
        var ssl = new SslStream(raw, leaveInnerStreamOpen: false);
        try
        {
            await authenticate(ssl, check).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            if (refused(e, check))
                throw new TransferException(TransferErrorCode.AuthenticationFailed, $"TLS with the {peer} failed: {check.Problem ?? e.Message}", inner: e);
            throw;
        }

        return new TransferConnection(ssl, pacer);
    }

    // What the certificate check found wrong with the peer's certificate (null: nothing, or not checked yet).
    private sealed class PeerCheck
    {
        public string? Problem { get; set; }
    }

    /// <summary>Reads the next frame and insists on its type; an Error frame becomes the peer's exception.</summary>
    public async ValueTask<Frame> ExpectAsync(MessageType type, CancellationToken ct)
    {
        var frame = await Reader.ReadAsync(ct).ConfigureAwait(false);
        if (frame.Type == MessageType.Error)
            throw ErrorMessage.Parse(frame.Payload.Span);
        if (frame.Type != type)
            throw Unexpected(frame.Type, $"expected {type}");
        return frame;
    }

    public static TransferException Unexpected(MessageType type, string where) =>
        Enum.IsDefined(type)
            ? new TransferException(TransferErrorCode.UnexpectedMessage, $"{type} frame is not allowed here ({where})")
            : new TransferException(TransferErrorCode.UnknownMessage, $"frame type 0x{(byte)type:x2} is unknown");

    public ValueTask SendAsync(MessageType type, ReadOnlySpan<byte> payload, CancellationToken ct) => Writer.SendAsync(type, payload, ct);

    /// <summary>Sends a control frame through its codec.</summary>
    public ValueTask SendAsync<T>(in T message, CancellationToken ct) where T : struct, IControlMessage
    {
        Span<byte> payload = stackalloc byte[IControlMessage.MaxSize];
        int length = message.Write(payload);
        return Writer.SendAsync(message.Type, payload[..length], ct);
    }

    /// <summary>Tells the peer why we are closing; best effort (the connection may already be gone).</summary>
    public async Task TrySendErrorAsync(TransferException error)
    {
        if (error.Remote || error.Code == TransferErrorCode.ConnectionLost)
            return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var span = Writer.GetPayloadSpan(8 + ErrorMessage.MaxText);
            int n = ErrorMessage.Write(span, error.Code, error.Detail);
            await Writer.CommitAsync(MessageType.Error, 0, n, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TransferException or IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The peer is gone; it will see the closed connection instead.
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // Unsent bytes of a dead connection.
        }

        await Reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        await Reader.DisposeAsync().ConfigureAwait(false);
    }
}
