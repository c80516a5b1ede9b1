using System.Net.Sockets;
using Teleport.Host.Worker;

namespace Teleport.Host.Relay;

/// <summary>
/// The source host's end of a VM's memory relay: QEMU migrates to a Unix socket of this host (mode 0600); each
/// connection QEMU opens (multifd opens several) becomes a channel to the destination's relay, opened one after the
/// other so the destination connects to its QEMU in the same order. A broken link is reconnected with backoff and
/// resumed under the channel's session token; QEMU only sees it when the recovery window passes.
/// </summary>
internal sealed class OutgoingMemoryRelay : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);
    private readonly Socket _listener;
    private readonly RelayConnector _connector;
    private readonly RelaySettings _settings;
    private readonly CancellationTokenSource _stopping = new();
    private readonly RelayChannels _channels = new();
    private readonly Task _accepting;

    private OutgoingMemoryRelay(Socket listener, string socketPath, RelayConnector connector, RelaySettings settings)
    {
        _listener = listener;
        SocketPath = socketPath;
        _connector = connector;
        _settings = settings;
        _accepting = RelaySockets.AcceptEachAsync(listener, OpenAsync, _stopping.Token);
    }

    /// <summary>Where QEMU migrates to (<c>migrate uri=unix:PATH</c>).</summary>
    public string SocketPath { get; }

    public IReadOnlyList<RelayChannel> Channels => _channels.All;

    /// <summary>Listens on <paramref name="socketPath"/> (replacing a stale one) for QEMU, relaying to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static OutgoingMemoryRelay Start(string socketPath, string host, int port, RelaySettings settings)
    {
        File.Delete(socketPath);
        // Whoever can connect here feeds the migration stream: this host's user only.
        var listener = RelaySockets.Listen(new UnixDomainSocketEndPoint(socketPath), _ =>
        {
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });
        return new OutgoingMemoryRelay(listener, socketPath, new RelayConnector(host, port, settings), settings);
    }

    // One channel at a time: the next QEMU connection waits until this one's destination side is connected.
    private async Task OpenAsync(Socket qemu)
    {
        int number = _channels.Count;
        RelayLink link;
        UInt128 token;
        try
        {
            (link, token) = await _connector.OpenAsync(new RelayHello(RelayHello.Open, 0, 0), _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or TimeoutException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
        {
            // QEMU's migration fails on the closed socket and is reported as any failed migration.
            HostWorkerLog.RelayChannelFailed(_settings.Log, _settings.VmId, number, $"cannot open it to {_connector.Peer}: {e.Message}");
            qemu.Dispose();
            return;
        }

        var channel = new RelayChannel(qemu, token, number, _settings, (received, cancellationToken) => ReconnectAsync(token, received, cancellationToken));
        HostWorkerLog.RelayChannelOpened(_settings.Log, _settings.VmId, number, _connector.Peer);
        _channels.Add(channel, channel.RunAsync(link));
    }

    // Tries again with backoff until the window (the token's cancellation) ends; a refusal that no retry changes ends the channel.
    private async Task<RelayLink> ReconnectAsync(UInt128 token, long received, CancellationToken cancellationToken)
    {
        var backoff = FirstBackoff;
        while (true)
        {
            try
            {
                return (await _connector.OpenAsync(new RelayHello(RelayHello.Resume, token, received), cancellationToken).ConfigureAwait(false)).Link;
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or System.Security.Authentication.AuthenticationException &&
                                      e is not RelayRefusedException { Status: RelayHello.UnknownSession or RelayHello.BadHello or RelayHello.Finished })
            {
                HostWorkerLog.RelayReconnectFailed(_settings.Log, _settings.VmId, e.Message);
            }

            await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        await _channels.DisposeAsync().ConfigureAwait(false);
        File.Delete(SocketPath);
        _stopping.Dispose();
    }
}
