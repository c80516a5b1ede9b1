using System.Buffers;
using System.Threading.Channels;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// The index phase on one connection. The volume is hashed on its own thread, ahead of the link (a few batches
/// queued); batches go on the wire as they come and, between them, the blocks the destination already asked for, so
/// the link carries data while the rest of the volume is hashed and the destination resolves the index.
/// </summary>
internal sealed class IndexStreamer(IndexScanner scanner, DataFramePipeline data, PendingBlocks pending, long blockCount)
{
    private const int DataFramesPerIndexBatch = 4;
    private const int BatchesAhead = 8;
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(2);

    private bool _initialDirtyDropped;

    // The scan started before the first connection (from block 0), taken by the first StreamAsync that starts there.
    private Scan? _early;

    /// <summary>The first block the destination has not received an entry for (it tells us on reconnect).</summary>
    public long Next { get; set; }

    /// <summary>IndexBatch and IndexEnd bytes put on the wire.</summary>
    public long Bytes { get; private set; }

    /// <summary>Zero blocks the index listed.</summary>
    public long ZeroBlocks { get; private set; }

    /// <summary>
    /// Starts hashing the volume from block 0 before the first connection is up, so the first batches are ready when
    /// the handshake ends instead of one scan's start-up later. A fresh source session always starts the index at 0.
    /// </summary>
    public void StartEarly()
    {
        if (_initialDirtyDropped)
            return;
        scanner.BeginConnection();
        _early = StartScan(0, CancellationToken.None);
    }

    /// <summary>
    /// A new connection (its Resume applied): the scanner's repeat references start over, unless the early scan is
    /// what this connection streams (it began with none listed).
    /// </summary>
    public async Task BeginConnectionAsync(bool streamsIndex)
    {
        if (_early is not null && streamsIndex && Next == 0)
            return;
        await DiscardEarlyAsync().ConfigureAwait(false);
        scanner.BeginConnection();
    }

    /// <summary>Stops the early scan if no connection took it.</summary>
    public async Task DiscardEarlyAsync()
    {
        if (_early is { } early)
        {
            _early = null;
            await early.StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Streams the index from <see cref="Next"/> to the end of the volume, then IndexEnd.</summary>
    public async Task StreamAsync(TransferConnection c, CancellationToken ct)
    {
        var scan = _early ?? StartScan(Next, ct);
        _early = null;
        var stopWithConnection = ct.Register(scan.Cancel);
        try
        {
            await SendBatchesAsync(c, scan.Batches.Reader, ct).ConfigureAwait(false);
            await scan.Task.ConfigureAwait(false);
        }
        finally
        {
            await stopWithConnection.DisposeAsync().ConfigureAwait(false);
            await scan.StopAsync().ConfigureAwait(false);
        }

        long before = c.Writer.BytesWritten;
        await c.SendAsync(new IndexEndMessage(blockCount), ct).ConfigureAwait(false);
        Bytes += c.Writer.BytesWritten - before;
    }

    /// <summary>Sends batches as the scan produces them and requested blocks in between, until the scan ends.</summary>
    private async Task SendBatchesAsync(TransferConnection c, ChannelReader<ScannedBatch> reader, CancellationToken ct)
    {
        while (true)
        {
            bool sent = false;
            while (reader.TryRead(out var batch))
            {
                await SendBatchAsync(c, batch, ct).ConfigureAwait(false);
                sent = true;
            }

            if (reader.Completion.IsCompleted)
                return;
            long seqBefore = data.LastSeq;
            await data.SendPendingAsync(c, ct, DataFramesPerIndexBatch).ConfigureAwait(false);
            if (!sent && data.LastSeq == seqBefore)
            {
                // Nothing to send yet: wait for the next batch, looking for new requests every few milliseconds.
                await Task.WhenAny(reader.WaitToReadAsync(ct).AsTask(), Task.Delay(IdlePoll, ct)).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
        }
    }

    private async ValueTask SendBatchAsync(TransferConnection c, ScannedBatch batch, CancellationToken ct)
    {
        try
        {
            long before = c.Writer.BytesWritten;
            await c.SendAsync(MessageType.IndexBatch, batch.Buffer.AsSpan(0, batch.Length), ct).ConfigureAwait(false);
            Bytes += c.Writer.BytesWritten - before;
            Next = batch.Next;
            ZeroBlocks += batch.ZeroBlocks;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch.Buffer);
        }
    }

    private Scan StartScan(long from, CancellationToken ct)
    {
        if (!_initialDirtyDropped)
        {
            // Writes before this point are covered by reading the volume now; track only what changes from here on.
            pending.DropDirty();
            _initialDirtyDropped = true;
        }

        var batches = Channel.CreateBounded<ScannedBatch>(new BoundedChannelOptions(BatchesAhead) { SingleReader = true, SingleWriter = true });
        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var task = Task.Run(() => scanner.ScanAsync(from, batches.Writer, stop.Token), CancellationToken.None);
        return new Scan(batches, stop, task);
    }

    /// <summary>One run of the scanner: its queue of batches, its stop and its task.</summary>
    private sealed record Scan(Channel<ScannedBatch> Batches, CancellationTokenSource Stop, Task Task)
    {
        public void Cancel() => Stop.Cancel();

        public async Task StopAsync()
        {
            await Stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ChannelClosedException)
            {
                // Stopped with the connection; an I/O error was already thrown by the loop above.
            }

            while (Batches.Reader.TryRead(out var unsent))
                ArrayPool<byte>.Shared.Return(unsent.Buffer);
            Stop.Dispose();
        }
    }
}
