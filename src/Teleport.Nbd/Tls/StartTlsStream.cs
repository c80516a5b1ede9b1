namespace Teleport.Nbd.Tls;

/// <summary>
/// The connection's byte stream, plain until NBD_OPT_STARTTLS is agreed and then TLS over the same socket. Readers and
/// writers keep this one object throughout, so the handshake can switch to TLS under them; they must have nothing
/// buffered or pending at the switch (the caller checks).
/// </summary>
public sealed class StartTlsStream : DuplexStream
{
    private readonly Stream _plain;
    private Stream _current;

    public StartTlsStream(Stream plain)
    {
        _plain = plain;
        _current = plain;
    }

    /// <summary>The secured layer once started; null while the connection is plain.</summary>
    public Stream? Secure { get; private set; }

    /// <summary>Runs the server side of the handshake; afterwards every byte is secured. Returns the client's identity.</summary>
    public async Task<string?> StartServerAsync(NbdTls tls, CancellationToken cancellationToken)
    {
        EnsurePlain();
        (var secure, string? identity) = await tls.AcceptAsync(_plain, cancellationToken).ConfigureAwait(false);
        Secure = secure;
        _current = secure;
        return identity;
    }

    /// <summary>Runs the client side of the handshake; afterwards every byte is secured.</summary>
    public async Task StartClientAsync(NbdTls tls, string targetHost, CancellationToken cancellationToken)
    {
        EnsurePlain();
        var secure = await tls.ConnectAsync(_plain, targetHost, cancellationToken).ConfigureAwait(false);
        Secure = secure;
        _current = secure;
    }

    private void EnsurePlain()
    {
        if (Secure is not null)
        {
            throw new InvalidOperationException("TLS is already running on this connection.");
        }
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _current.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _current.ReadAsync(buffer, offset, count, cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => _current.Read(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _current.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _current.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => _current.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => _current.FlushAsync(cancellationToken);

    public override void Flush() => _current.Flush();

    public override async ValueTask DisposeAsync()
    {
        if (Secure is not null)
        {
            await Secure.DisposeAsync().ConfigureAwait(false);
        }

        await _plain.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Secure?.Dispose();
            _plain.Dispose();
        }

        base.Dispose(disposing);
    }
}
