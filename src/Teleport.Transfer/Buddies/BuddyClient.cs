using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Buddies;

/// <summary>
/// The destination's line to one buddy: connects on first use (mutual TLS, the buddy's id as the expected CN), then
/// sends one lookup at a time and checks every block of the answer against its prefix. A lookup that fails or outlives
/// <see cref="BuddyOptions.LookupTimeout"/> (connecting included) closes the connection and leaves the buddy alone for
/// <see cref="BuddyOptions.RetryAfter"/>: every block of it is then a miss, asked from the source.
/// </summary>
internal sealed class BuddyClient(BuddyPeer peer, BuddyOptions options, ILogger log) : IAsyncDisposable
{
    private TransferConnection? _connection;
    private int _connectionBlockSize;
    private long _downUntil;

    public string Id => peer.Id;

    /// <summary>Not left alone after a failure.</summary>
    public bool Available => Environment.TickCount64 >= _downUntil;

    /// <summary>
    /// Looks up <paramref name="prefixes"/> (at most <see cref="BuddyMessages.MaxLookup"/>). For each one found and
    /// verified, <paramref name="found"/> is set and its block copied to <paramref name="blocks"/> at its index times
    /// the block size, with its full fingerprint in <paramref name="fingerprints"/>. Returns the blocks the buddy sent
    /// that did not match their prefix (a wrong block is never used), or -1 when the buddy failed.
    /// </summary>
    public async Task<int> LookupAsync(ReadOnlyMemory<FingerprintPrefix> prefixes, int blockSize, Memory<byte> blocks,
        Fingerprint[] fingerprints, bool[] found, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.LookupTimeout);
        try
        {
            var c = await ConnectionAsync(blockSize, timeout.Token).ConfigureAwait(false);
            var payload = c.Writer.GetPayloadSpan(BuddyMessages.LookupSize(prefixes.Length));
            int length = BuddyMessages.WriteLookup(payload, prefixes.Span);
            await c.Writer.CommitAsync(MessageType.BuddyLookup, 0, length, timeout.Token).ConfigureAwait(false);
            var answer = await c.ExpectAsync(MessageType.BuddyBlocks, timeout.Token).ConfigureAwait(false);
            return Take(answer.Payload.Span, prefixes.Span, blockSize, blocks.Span, fingerprints, found);
        }
        catch (Exception e) when (!ct.IsCancellationRequested &&
                                  e is TransferException or IOException or SocketException or OperationCanceledException or ArgumentException)
        {
            string why = e is OperationCanceledException ? $"no answer within {options.LookupTimeout}" : e.Message;
            log.LogWarning("Buddy {Buddy} at {EndPoint} failed, asking the source instead for {RetryAfter}: {Error}",
                peer.Id, peer.EndPoint, options.RetryAfter, why);
            _downUntil = Environment.TickCount64 + (long)options.RetryAfter.TotalMilliseconds;
            await CloseAsync().ConfigureAwait(false);
            return -1;
        }
    }

    private int Take(ReadOnlySpan<byte> payload, ReadOnlySpan<FingerprintPrefix> prefixes, int blockSize, Span<byte> blocks,
        Fingerprint[] fingerprints, bool[] found)
    {
        var flags = BuddyMessages.ParseBlocks(payload, prefixes.Length, blockSize, out var data);
        int wrong = 0, at = 0;
        for (int i = 0; i < prefixes.Length; i++)
        {
            if (flags[i] == 0)
                continue;
            var block = data.Slice(at, blockSize);
            at += blockSize;
            var fingerprint = Fingerprint.Compute(block);
            if (!prefixes[i].Matches(fingerprint))
            {
                wrong++;
                continue;
            }

            block.CopyTo(blocks[(i * blockSize)..]);
            fingerprints[i] = fingerprint;
            found[i] = true;
        }

        if (wrong > 0)
            log.LogWarning("Buddy {Buddy} sent {Wrong} blocks that do not match their fingerprints; they are asked from the source", peer.Id, wrong);
        return wrong;
    }

    private async ValueTask<TransferConnection> ConnectionAsync(int blockSize, CancellationToken ct)
    {
        if (_connection is not null && _connectionBlockSize == blockSize)
            return _connection;
        await CloseAsync().ConfigureAwait(false);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        TransferConnection c;
        try
        {
            SocketTuning.Apply(socket);
            await socket.ConnectAsync(peer.EndPoint, ct).ConfigureAwait(false);
            c = await TransferConnection.OpenClientAsync(new NetworkStream(socket, ownsSocket: true),
                options.Tls with { PeerName = peer.Id }, pacer: null, ct).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _connection = c;
        Span<byte> hello = stackalloc byte[BuddyMessages.HelloSize];
        BuddyMessages.WriteHello(hello, blockSize);
        await c.SendAsync(MessageType.BuddyHello, hello, ct).ConfigureAwait(false);
        var reply = await c.ExpectAsync(MessageType.BuddyHello, ct).ConfigureAwait(false);
        int theirs = BuddyMessages.ParseHello(reply.Payload.Span);
        if (theirs != blockSize)
            throw new TransferException(TransferErrorCode.VolumeMismatch, $"the buddy indexes {theirs}-byte blocks, not {blockSize}");
        // Mutual TLS proved who it is: its answers may be as large as a lookup's blocks.
        c.Reader.Authenticated();
        _connectionBlockSize = blockSize;
        return c;
    }

    private async ValueTask CloseAsync()
    {
        if (_connection is { } c)
        {
            _connection = null;
            await c.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => CloseAsync();
}
