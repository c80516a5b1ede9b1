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

    /// <summary>The first block the destination has not received an entry for (it tells us on reconnect).</summary>
    public long Next { get; set; }

    /// <summary>IndexBatch and IndexEnd bytes put on the wire.</summary>
    public long Bytes { get; private set; }

    /// <summary>Zero blocks the index listed.</summary>
    public long ZeroBlocks { get; private set; }

    /// <summary>A new connection: the scanner's repeat references start over.</summary>
    public void BeginConnection() => scanner.BeginConnection();

    /// <summary>Streams the index from <see cref="Next"/> to the end of the volume, then IndexEnd.</summary>
    public async Task StreamAsync(TransferConnection c, CancellationToken ct)
    {
        if (!_initialDirtyDropped)
        {
            // Writes before this point are covered by reading the volume now; track only what changes from here on.
            pending.DropDirty();
            _initialDirtyDropped = true;
        }

        var batches = Channel.CreateBounded<ScannedBatch>(new BoundedChannelOptions(BatchesAhead) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long from = Next;
        var scan = Task.Run(() => scanner.ScanAsync(from, batches.Writer, stop.Token), CancellationToken.None);
        try
        {
            await SendBatchesAsync(c, batches.Reader, ct).ConfigureAwait(false);
            await scan.ConfigureAwait(false);
        }
        finally
        {
            await StopScanAsync(stop, scan, batches.Reader).ConfigureAwait(false);
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

    private static async Task StopScanAsync(CancellationTokenSource stop, Task scan, ChannelReader<ScannedBatch> batches)
    {
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await scan.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ChannelClosedException)
        {
            // Stopped with the connection; an I/O error was already thrown by the loop above.
        }

        while (batches.TryRead(out var unsent))
            ArrayPool<byte>.Shared.Return(unsent.Buffer);
    }
}
