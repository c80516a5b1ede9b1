using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// A storage worker's answer to its buddies: accepts connections (capped), authenticates each by mutual TLS (a
/// certificate of the CA whose CN is a configured buddy id), then answers BuddyLookup frames from its index, every
/// block read and verified by <see cref="BlockIndex.ReadVerified"/> (a lookup frame's blocks in one batch).
/// A malformed frame gets an Error and the connection is closed; the server keeps serving.
/// </summary>
public sealed class BuddyServer : IAsyncDisposable
{
    private readonly BuddyServerOptions _options;
    private readonly ILogger _log;
    private readonly ConnectionCaps _caps;
    private readonly TransferTls _tls;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private TcpListener? _listener;
    private Task _accepting = Task.CompletedTask;
    private long _blocksServed, _refused;

    public BuddyServer(BuddyServerOptions options, ILogger? log = null)
    {
        options.Validate();
        _options = options;
        _log = log ?? NullLogger.Instance;
        _caps = new ConnectionCaps(options.MaxConnections, options.MaxConnectionsPerPeer);
        _tls = options.Tls with { PeerName = "a configured buddy" };
    }

    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndpoint;

    /// <summary>Blocks sent to buddies.</summary>
    public long BlocksServed => Interlocked.Read(ref _blocksServed);

    /// <summary>Connections refused (caps, TLS, handshake, malformed frames).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Binds and starts accepting; returns the bound endpoint.</summary>
    public IPEndPoint Start()
    {
        _listener = new TcpListener(_options.Listen);
        _listener.Start();
        _accepting = AcceptAsync(_listener, _stop.Token);
        return LocalEndPoint!;
    }

    private async Task AcceptAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var peer = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            if (_caps.TryAdmit(peer) is { } refusal)
            {
                _log.LogWarning("Buddy server: refused connection from {Peer}: {Error}", peer, refusal);
                Interlocked.Increment(ref _refused);
                socket.Dispose();
                continue;
            }

            SocketTuning.Apply(socket);
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(ServeAsync(socket, peer, ct));
            }
        }
    }

    private async Task ServeAsync(Socket socket, IPAddress? peer, CancellationToken ct)
    {
        TransferConnection? c = null;
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshake.CancelAfter(_options.HandshakeTimeout);
                c = await TransferConnection.OpenServerAsync(new NetworkStream(socket, ownsSocket: true), _tls, handshake.Token, CheckBuddy)
                    .ConfigureAwait(false);
                await GreetAsync(c, handshake.Token).ConfigureAwait(false);
            }

            await AnswerAsync(c, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TransferException or IOException or SocketException or OperationCanceledException)
        {
            if (!ct.IsCancellationRequested && !(e is TransferException { Code: TransferErrorCode.ConnectionLost }))
            {
                string why = e is OperationCanceledException ? "handshake or idle timeout" : e.Message;
                _log.LogWarning("Buddy server: closed connection from {Peer}: {Error}", peer, why);
                Interlocked.Increment(ref _refused);
                if (c is not null && e is TransferException te)
                    await c.TrySendErrorAsync(te).ConfigureAwait(false);
            }
        }
        finally
        {
            if (c is not null)
                await c.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();
            _caps.Leave(peer);
        }
    }

    // A client certificate is accepted when it is a buddy's: issued by the CA with one of the configured ids as its CN.
    private string? CheckBuddy(System.Security.Cryptography.X509Certificates.X509Certificate? certificate,
        System.Security.Cryptography.X509Certificates.X509Chain? chain)
    {
        string? problem = "no buddies are configured";
        foreach (string id in _options.Buddies)
        {
            problem = PeerCertificateCheck.Problem(_tls with { PeerName = id }, certificate, chain, peerIsServer: false);
            if (problem is null)
                return null;
        }

        return problem;
    }

    private async Task GreetAsync(TransferConnection c, CancellationToken ct)
    {
        var hello = await c.ExpectAsync(MessageType.BuddyHello, ct).ConfigureAwait(false);
        int blockSize = BuddyMessages.ParseHello(hello.Payload.Span);
        if (blockSize != _options.Index.BlockSize)
            throw new TransferException(TransferErrorCode.VolumeMismatch, $"this buddy indexes {_options.Index.BlockSize}-byte blocks, not {blockSize}");
        Span<byte> reply = stackalloc byte[BuddyMessages.HelloSize];
        BuddyMessages.WriteHello(reply, blockSize);
        await c.SendAsync(MessageType.BuddyHello, reply, ct).ConfigureAwait(false);
        // TLS proved a buddy: lookups may be larger than handshake frames (still bounded by the frame limit).
        c.Reader.Authenticated();
    }

    private async Task AnswerAsync(TransferConnection c, CancellationToken ct)
    {
        int blockSize = _options.Index.BlockSize;
        int max = BuddyMessages.MaxLookup(blockSize);
        var prefixes = new FingerprintPrefix[max];
        bool[] hits = new bool[max];
        var found = new Fingerprint[max];
        while (true)
        {
            Frame frame;
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                idle.CancelAfter(_options.IdleTimeout);
                frame = await c.ExpectAsync(MessageType.BuddyLookup, idle.Token).ConfigureAwait(false);
            }

            int count = BuddyMessages.ParseLookup(frame.Payload.Span, max, prefixes);
            int length = Fill(c.Writer.GetPayloadSpan(BuddyMessages.BlocksMaxSize(count, blockSize)), prefixes.AsSpan(0, count), blockSize,
                hits, found);
            await c.Writer.CommitAsync(MessageType.BuddyBlocks, 0, length, ct).ConfigureAwait(false);
        }
    }

    // Writes the BuddyBlocks payload straight into the frame writer's memory: flags, then each found block. The
    // lookups run as one batch into a slot per lookup; the hits then move down over the misses' slots (never up).
    private int Fill(Span<byte> payload, ReadOnlySpan<FingerprintPrefix> prefixes, int blockSize, bool[] hits, Fingerprint[] found)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)prefixes.Length);
        int slots = 2 + prefixes.Length, at = slots;
        _options.Index.ReadVerified(prefixes, payload.Slice(slots, prefixes.Length * blockSize), hits, found);
        for (int i = 0; i < prefixes.Length; i++)
        {
            payload[2 + i] = hits[i] ? (byte)1 : (byte)0;
            if (!hits[i])
                continue;
            payload.Slice(slots + (i * blockSize), blockSize).CopyTo(payload.Slice(at, blockSize)); // overlap-safe
            at += blockSize;
            Interlocked.Increment(ref _blocksServed);
        }

        if (_options.TamperBlock is { } tamper && at > 2 + prefixes.Length)
        {
            // Tests only: the answer's blocks, as a buddy that lies would send them.
            byte[] copy = payload[(2 + prefixes.Length)..at].ToArray();
            for (int o = 0; o < copy.Length; o += blockSize)
                tamper(copy.AsMemory(o, blockSize));
            copy.CopyTo(payload[(2 + prefixes.Length)..]);
        }

        return at;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Stop();
        await _accepting.ConfigureAwait(false);
        Task[] open;
        lock (_connections)
            open = [.. _connections];
        await Task.WhenAll(open).ConfigureAwait(false);
        _stop.Dispose();
    }
}
