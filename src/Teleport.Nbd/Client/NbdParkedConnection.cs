using System.Net;

namespace Teleport.Nbd.Client;

/// <summary>
/// A connection opened ahead of need and left in option haggling: TCP connected, greeted, TLS started when
/// configured, structured replies agreed. <see cref="GoAsync"/> then costs one round trip (NBD_OPT_GO), not the four
/// of a new connection; an export that is not there yet is asked for again on the same connection. The server may
/// close a parked connection after its handshake timeout: <see cref="GoAsync"/> then fails with a connection error
/// and the caller connects afresh.
/// </summary>
public sealed class NbdParkedConnection : IAsyncDisposable
{
    private readonly NbdClientChannel _channel;
    private readonly NbdClientOptions _options;
    private readonly bool _structured;
    private int _used;

    private NbdParkedConnection(NbdClientChannel channel, NbdClientOptions options, bool structured)
    {
        _channel = channel;
        _options = options;
        _structured = structured;
    }

    /// <summary>True once <see cref="GoAsync"/> handed the connection over to a client.</summary>
    public bool Selected { get; private set; }

    /// <summary>The server this connection leads to.</summary>
    public required EndPoint EndPoint { get; init; }

    /// <summary>Connects, greets, starts TLS with <see cref="NbdClientOptions.Tls"/> and asks for structured replies.</summary>
    public static async Task<NbdParkedConnection> OpenAsync(EndPoint endPoint, NbdClientOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new NbdClientOptions();
        NbdClient.CheckOptions(options);
        var channel = await NbdClientChannel.OpenAsync(endPoint, options.Tls, cancellationToken).ConfigureAwait(false);
        try
        {
            bool structured = options.StructuredReplies && await channel.Handshake.RequestStructuredRepliesAsync(cancellationToken).ConfigureAwait(false);
            return new NbdParkedConnection(channel, options, structured) { EndPoint = endPoint };
        }
        catch
        {
            await channel.CloseAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Selects <paramref name="exportName"/> (waiting for it up to <see cref="NbdClientOptions.ExportWait"/>, or asking
    /// once with <paramref name="once"/>) and hands the connection over to the returned client. Once only: on failure the
    /// connection is closed.
    /// </summary>
    /// <exception cref="NbdOptionException">The server refused (e.g. no such export).</exception>
    public async Task<NbdClient> GoAsync(string exportName, bool once = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(exportName);
        if (Interlocked.Exchange(ref _used, 1) != 0)
            throw new InvalidOperationException("This parked NBD connection was used already.");
        try
        {
            var client = await NbdClient.GoAsync(_channel, exportName, _structured, _options, once ? TimeSpan.Zero : _options.ExportWait, cancellationToken)
                .ConfigureAwait(false);
            Selected = true;
            return client;
        }
        catch
        {
            await _channel.CloseAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Closes the connection unless <see cref="GoAsync"/> took it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _used, 1) == 0)
            await _channel.CloseAsync().ConfigureAwait(false);
    }
}
