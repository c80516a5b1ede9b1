using System.Net;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;

namespace Teleport.Host.Moves;

/// <summary>
/// An incoming VM's disk before the destination storage exports it: the size comes from the VM definition, so QEMU
/// can open its disk at start; the real export is connected on the first request (waiting for it to appear, up to
/// a window). QEMU does no disk I/O while incoming, and the host switches the VM's path to the export itself before
/// the VM runs, so in practice this only answers the handshake.
/// </summary>
internal sealed class DeferredUpstreamExport(string name, long size, EndPoint upstream, string exportName, TimeSpan window) : INbdExport, IAsyncDisposable
{
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private NbdClient? _client;

    public string Name { get; } = name;

    public string? Description => "Teleport incoming VM disk (deferred upstream)";

    public long Size { get; } = size;

    public bool IsReadOnly => false;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false);

    public async ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).TrimAsync(offset, checked((uint)length), fua, cancellationToken).ConfigureAwait(false);

    public async ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken) =>
        await (await ClientAsync(cancellationToken).ConfigureAwait(false)).WriteZeroesAsync(offset, checked((uint)length), fua, noHole, cancellationToken).ConfigureAwait(false);

    // Nothing was written before the first connection: a flush then has nothing to make durable (the switch away
    // from the relay flushes it, and must not wait for the export for that).
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is { } client)
            await client.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<NbdClient> ClientAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is { } connected)
            return connected;
        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_client is not null)
                return _client;
            var client = await NbdClient.ConnectAsync(upstream, exportName, new NbdClientOptions { ExportWait = window }, cancellationToken).ConfigureAwait(false);
            if (client.Size != Size)
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw new IOException($"export '{exportName}' is {client.Size} bytes; the VM definition says {Size}");
            }

            Volatile.Write(ref _client, client);
            return client;
        }
        finally
        {
            _connecting.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _client, null) is { } client)
            await client.DisposeAsync().ConfigureAwait(false);
    }
}
