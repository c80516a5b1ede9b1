using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Teleport.Transfer;

/// <summary>
/// Loopback TCP relay that holds every chunk for a fixed one-way delay in each direction: a WAN round-trip time
/// without kernel support (this machine has no netem). Used by <see cref="TransferBenchmark"/>.
/// </summary>
internal sealed class DelayLine : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly TimeSpan _oneWay;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public DelayLine(IPEndPoint target, TimeSpan roundTrip)
    {
        _target = target;
        _oneWay = roundTrip / 2;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    private async Task AcceptAsync()
    {
        var relays = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
                relays.Add(RelayAsync(client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            await Task.WhenAll(relays).ConfigureAwait(false);
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var _ = client;
        client.NoDelay = true;
        try
        {
            await upstream.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
            using var both = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            var a = PumpAsync(client, upstream, both);
            var b = PumpAsync(upstream, client, both);
            await Task.WhenAny(a, b).ConfigureAwait(false);
            await both.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(a, b).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }
    }

    private async Task PumpAsync(Socket from, Socket to, CancellationTokenSource both)
    {
        var queue = Channel.CreateUnbounded<(long Due, byte[] Bytes)>();
        var writer = Task.Run(async () =>
        {
            await foreach (var (due, bytes) in queue.Reader.ReadAllAsync(both.Token).ConfigureAwait(false))
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, both.Token).ConfigureAwait(false);
                await to.SendAsync(bytes, both.Token).ConfigureAwait(false);
            }

            to.Shutdown(SocketShutdown.Send);
        });
        try
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, both.Token).ConfigureAwait(false);
                if (n == 0)
                    break;
                long due = Stopwatch.GetTimestamp() + (long)(_oneWay.TotalSeconds * Stopwatch.Frequency);
                queue.Writer.TryWrite((due, buffer.AsSpan(0, n).ToArray()));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }
        finally
        {
            queue.Writer.TryComplete();
        }

        try
        {
            await writer.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }
}
