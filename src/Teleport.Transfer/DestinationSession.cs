using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The receiving side of one migration: listens, authenticates every connection, rebuilds what it can from its
/// local index and from blocks already in the volume, asks for the rest, writes received blocks, checkpoints its
/// progress durably, and verifies the result. It outlives connections: a dropped source reconnects and continues.
/// A newer authenticated connection replaces an older one (whose peer may be gone without a FIN).
/// This class runs the phase loop; the listener, the <see cref="VolumeRebuild"/> rooms and the statistics do the work.
/// </summary>
public sealed class DestinationSession : IAsyncDisposable
{
    private readonly DestinationOptions _options;
    private readonly ILogger _log;
    private readonly ITransferObserver _observer;
    private readonly string _volumeFullPath;
    private readonly DestinationListener _listener;
    private readonly DestinationStatistics _stats = new();
    private readonly TaskCompletionSource<TransferResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DestinationFence _fence;
    private readonly Buddies.BuddySet? _buddies;

    // Touched only by the connection the listener serves.
    private VolumeRebuild? _rebuild;
    private long _ackedSeq;

    public DestinationSession(DestinationOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Tls is not { Mutual: true })
            Handshake.ValidateSecret(options.Secret);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ReadAheadBytes, nameof(options.ReadAheadBytes));
        _options = options;
        _log = logger ?? NullLogger.Instance;
        _observer = options.Observer ?? NoObserver.Instance;
        _volumeFullPath = Path.GetFullPath(options.VolumePath);
        _listener = new DestinationListener(options, _log, _observer, ServeConnectionAsync);
        _fence = new DestinationFence(options.Fence);
        _buddies = options.Buddies is { Peers.Count: > 0 } buddies ? new Buddies.BuddySet(buddies, _log) : null;
    }

    /// <summary>
    /// Completes once the volume is verified and Complete was sent, before the source's Goodbye ends
    /// <see cref="RunAsync"/>: work that only needs the verified volume can overlap that round trip.
    /// </summary>
    public Task Verified => _completed.Task;

    /// <summary>The bound endpoint once <see cref="Start"/> ran (port 0 in the options picks a free port).</summary>
    public IPEndPoint? LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Binds the listener (and warms the handshake's code for the first connection); returns the endpoint the source must reach.</summary>
    public IPEndPoint Start()
    {
        _ = HandshakeRehearsal.WarmOnce(_log);
        return _listener.Start();
    }

    /// <summary>
    /// Serves connections until the migration is complete and verified (then returns the totals) or fails: a
    /// protocol violation by an authenticated source, a verification mismatch or a volume error ends it with an
    /// exception. Unauthenticated or malformed connection attempts are refused one by one and do not end it.
    /// </summary>
    public async Task<TransferResult> RunAsync(CancellationToken cancellationToken = default)
    {
        Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var accepting = _listener.AcceptAsync(stop.Token);
        try
        {
            var first = await Task.WhenAny(_done.Task, _completed.Task, accepting).ConfigureAwait(false);
            if (first == accepting)
            {
                await accepting.ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                throw new TransferException(TransferErrorCode.Internal, "the listener stopped");
            }
            if (first == _completed.Task)
            {
                // Wait for the source's goodbye; if it never comes (its Complete was lost and it gave up), we are still done.
                await Task.WhenAny(_done.Task, Task.Delay(_options.CompletionLinger, stop.Token)).ConfigureAwait(false);
                _done.TrySetResult(Result(0));
            }

            return await _done.Task.ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await _listener.StopAsync(accepting).ConfigureAwait(false);
        }
    }

    /// <summary>Serves one authenticated connection; a failure other than a lost or replaced connection ends the session.</summary>
    private async Task ServeConnectionAsync(TransferConnection connection, HelloMessage hello, CancellationToken ct)
    {
        try
        {
            if (_done.Task.IsCompleted)
                return;
            _stats.ConnectionStarted();
            if (_options.ReadAheadBytes > 0)
                connection.Reader.StartReadAhead(_options.ReadAheadBytes);
            await ServeAsync(connection, hello, ct).ConfigureAwait(false);
        }
        catch (TransferException e) when (e.Code == TransferErrorCode.ConnectionLost)
        {
            _log.LogWarning("Migration {MigrationId}: connection lost ({Error}); waiting for the source to reconnect", _options.MigrationId, e.Message);
        }
        catch (OperationCanceledException)
        {
            _log.LogInformation("Migration {MigrationId}: connection replaced or session stopped", _options.MigrationId);
        }
        catch (TransferException e)
        {
            _log.LogError("Migration {MigrationId}: {Error}", _options.MigrationId, e.Message);
            await connection.TrySendErrorAsync(e).ConfigureAwait(false);
            _done.TrySetException(e);
        }
        catch (Exception e)
        {
            var error = new TransferException(TransferErrorCode.Internal, $"destination failed: {e.Message}", inner: e);
            _log.LogError(e, "Migration {MigrationId}: destination failed", _options.MigrationId);
            await connection.TrySendErrorAsync(error).ConfigureAwait(false);
            _done.TrySetException(error);
        }
        finally
        {
            _stats.ClosedConnectionBytes += connection.Bytes;
        }
    }

    private async Task ServeAsync(TransferConnection c, HelloMessage hello, CancellationToken ct)
    {
        var rebuild = await ResumeAsync(c, hello, ct).ConfigureAwait(false);
        using var pumpStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pump = Task.CompletedTask;
        if (_options.Fence is not null)
        {
            c.Writer.AllowConcurrentSenders();
            pump = _fence.PumpAsync(c, pumpStop.Token);
        }

        try
        {
            await ServeFramesAsync(c, rebuild, ct).ConfigureAwait(false);
        }
        finally
        {
            await pumpStop.CancelAsync().ConfigureAwait(false);
            await pump.ConfigureAwait(false);
        }
    }

    private async Task ServeFramesAsync(TransferConnection c, VolumeRebuild rebuild, CancellationToken ct)
    {
        var state = rebuild.State;
        while (true)
        {
            var frame = await c.Reader.ReadAsync(ct).ConfigureAwait(false);
            switch (frame.Type, state.Phase)
            {
                case (MessageType.IndexBatch, DestinationPhase.Index):
                    _stats.IndexBytes += frame.WireBytes;
                    await ResolveIndexBatchAsync(c, rebuild, frame.Payload, ct).ConfigureAwait(false);
                    break;

                case (MessageType.IndexEnd, DestinationPhase.Index):
                    _stats.IndexBytes += frame.WireBytes;
                    await EndIndexAsync(c, rebuild, IndexEndMessage.Parse(frame.Payload.Span), ct).ConfigureAwait(false);
                    break;

                case (MessageType.Data, DestinationPhase.Index or DestinationPhase.Copy):
                    _stats.DataBytes += frame.WireBytes;
                    await ApplyDataAsync(c, rebuild, frame, ct).ConfigureAwait(false);
                    break;

                case (MessageType.RoundEnd, DestinationPhase.Copy):
                    RoundEndMessage.Parse(frame.Payload.Span);
                    _stats.Rounds++;
                    await CheckpointAndAckAsync(c, rebuild.Volume, ct).ConfigureAwait(false);
                    break;

                case (MessageType.Fence, DestinationPhase.Copy):
                    _fence.AddAnnounced(frame.Payload.Span, state.Geometry);
                    break;

                case (MessageType.FenceEnd, DestinationPhase.Copy):
                    Fenced(_fence.EndAnnouncement(FenceEndMessage.Parse(frame.Payload.Span), state.Presence));
                    break;

                case (MessageType.FinalEnd, DestinationPhase.Copy):
                    await FinishAsync(c, rebuild, FinalEndMessage.Parse(frame.Payload.Span), ct).ConfigureAwait(false);
                    break;

                case (MessageType.Goodbye, DestinationPhase.Completed):
                    GoodbyeMessage.Parse(frame.Payload.Span);
                    _observer.OnPhase(TransferPhase.Completed);
                    _done.TrySetResult(Result(c.Bytes));
                    return;

                case (MessageType.Error, _):
                    throw ErrorMessage.Parse(frame.Payload.Span);

                default:
                    throw TransferConnection.Unexpected(frame.Type, $"destination is in phase {state.Phase}");
            }
        }
    }

    /// <summary>Prepares the rebuild for this connection and tells the source where to continue.</summary>
    private async Task<VolumeRebuild> ResumeAsync(TransferConnection c, HelloMessage hello, CancellationToken ct)
    {
        var rebuild = PrepareRebuild(hello);
        var state = rebuild.State;
        // Data may have been applied in either phase: the Resume reports exactly what is durable.
        if (state.Phase != DestinationPhase.Completed && rebuild.Volume.LastSeq != state.DurableSeq)
            rebuild.Volume.Checkpoint(force: true);
        rebuild.StartConnection();
        _fence.StartConnection();

        await c.SendAsync(new ResumeMessage(state.Phase, state.IndexCursor, state.DurableSeq, state.Digest), ct).ConfigureAwait(false);
        _ackedSeq = state.DurableSeq;
        _observer.OnPhase(state.Phase switch
        {
            DestinationPhase.Index => TransferPhase.Index,
            DestinationPhase.Copy => TransferPhase.Copy,
            _ => TransferPhase.Completed,
        });
        if (state.Phase == DestinationPhase.Copy)
            await RequestMissingAsync(c, rebuild.Requests, onlyUnrequested: false, ct).ConfigureAwait(false);
        return rebuild;
    }

    /// <summary>Sets up (or keeps) the rebuild for the hello's source session and volume.</summary>
    private VolumeRebuild PrepareRebuild(HelloMessage hello)
    {
        var geometry = GeometryOf(hello);
        if (_rebuild is { } current && current.Serves(hello.SourceSessionId, geometry))
            return current;
        var previous = _rebuild;
        _rebuild = null;
        previous?.Dispose();
        _rebuild = VolumeRebuild.Open(_options, _volumeFullPath, _log, geometry, hello.SourceSessionId, previous?.State, _stats, _buddies);
        return _rebuild;
    }

    private VolumeGeometry GeometryOf(HelloMessage hello)
    {
        VolumeGeometry geometry;
        try
        {
            geometry = new VolumeGeometry(hello.VolumeSize, hello.BlockSize);
        }
        catch (ArgumentException e)
        {
            throw new TransferException(TransferErrorCode.VolumeMismatch, e.Message);
        }

        if (_options.ExpectedVolumeBytes is { } expected && expected != geometry.Size)
            throw new TransferException(TransferErrorCode.VolumeMismatch,
                $"the source's volume is {geometry.Size} bytes; this destination was prepared for {expected}");
        // The fence was built when the migration was prepared, from the size and block size the request named.
        if (_options.Fence is { } fence && (fence.VolumeBytes != geometry.Size || fence.BlockSize != geometry.BlockSize))
            throw new TransferException(TransferErrorCode.VolumeMismatch,
                $"the source sends {geometry.Size} bytes in blocks of {geometry.BlockSize}; the fenced cut-over was prepared for {fence.VolumeBytes} bytes in blocks of {fence.BlockSize}");
        if (geometry.BlockCount > Array.MaxLength)
            throw new TransferException(TransferErrorCode.VolumeMismatch, $"a volume of {geometry.BlockCount} blocks is too large; use a larger block size");
        return geometry;
    }

    private async ValueTask ResolveIndexBatchAsync(TransferConnection c, VolumeRebuild rebuild, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        rebuild.Resolver.Validate(payload.Span);
        // Blocks nothing here can provide are requested before the batch's local copies are made, also those of the
        // batches already buffered behind it, so the link carries them while this side reads its index; the rest is
        // requested once resolved.
        rebuild.Resolver.QueueCertainMisses(payload.Span);
        c.Reader.PeekBuffered(MessageType.IndexBatch, rebuild.Resolver.QueueCertainMissesAhead);
        await rebuild.Resolver.AskBuddiesAsync(ct).ConfigureAwait(false);
        await rebuild.Requests.SendQueuedAsync(c, ct).ConfigureAwait(false);
        rebuild.Resolver.Apply(payload.Span);
        await rebuild.Requests.SendQueuedAsync(c, ct).ConfigureAwait(false);
        if (rebuild.Volume.BytesSinceCheckpoint >= _options.CheckpointBytes)
            await CheckpointAndAckAsync(c, rebuild.Volume, ct).ConfigureAwait(false);
    }

    private async ValueTask ApplyDataAsync(TransferConnection c, VolumeRebuild rebuild, Frame frame, CancellationToken ct)
    {
        rebuild.Data.Apply(frame.Payload.Span, frame.Flags);
        await rebuild.Requests.SendQueuedAsync(c, ct).ConfigureAwait(false);
        if (rebuild.Volume.CheckpointDue)
            await CheckpointAndAckAsync(c, rebuild.Volume, ct).ConfigureAwait(false);
    }

    private async ValueTask EndIndexAsync(TransferConnection c, VolumeRebuild rebuild, IndexEndMessage end, CancellationToken ct)
    {
        var state = rebuild.State;
        long blockCount = state.Geometry.BlockCount;
        if (end.BlockCount != blockCount || state.IndexCursor != blockCount)
            throw new TransferException(TransferErrorCode.OutOfRange,
                $"IndexEnd after {state.IndexCursor} of {blockCount} blocks (source says {end.BlockCount})");
        state.Phase = DestinationPhase.Copy;
        rebuild.Resolver.EndIndex();
        rebuild.Volume.Checkpoint(force: true);

        _observer.OnPhase(TransferPhase.Request);
        await RequestMissingAsync(c, rebuild.Requests, onlyUnrequested: true, ct).ConfigureAwait(false);
        _observer.OnIndexResolved(_stats.IndexReport(blockCount));
        _observer.OnPhase(TransferPhase.Copy);
    }

    private async ValueTask RequestMissingAsync(TransferConnection c, RequestPlanner requests, bool onlyUnrequested, CancellationToken ct)
    {
        long requested = await requests.SendMissingAsync(c, onlyUnrequested, ct).ConfigureAwait(false);
        _log.LogInformation("Migration {MigrationId}: requested {Requested} blocks ({FromIndex} from index, {FromVolume} from the volume, {Zero} zero)",
            _options.MigrationId, requested, _stats.FromIndex, _stats.FromVolume, _stats.ZeroBlocks);
    }

    private void Fenced(long? blocks)
    {
        if (blocks is not { } fenced)
            return;
        _log.LogInformation("Migration {MigrationId}: fence armed over {Fenced} blocks; the volume may be served", _options.MigrationId, fenced);
        _observer.OnFenced(fenced);
    }

    private async ValueTask CheckpointAndAckAsync(TransferConnection c, CheckpointedVolume volume, CancellationToken ct)
    {
        volume.Checkpoint(force: true);
        if (volume.LastSeq > _ackedSeq)
        {
            await c.SendAsync(new AckMessage(volume.LastSeq), ct).ConfigureAwait(false);
            _ackedSeq = volume.LastSeq;
        }
    }

    private async ValueTask FinishAsync(TransferConnection c, VolumeRebuild rebuild, FinalEndMessage end, CancellationToken ct)
    {
        var volume = rebuild.Volume;
        if (end.LastSeq != volume.LastSeq)
            throw new TransferException(TransferErrorCode.OutOfRange, $"source ended at Data sequence {end.LastSeq}, destination applied up to {volume.LastSeq}");
        if (volume.Presence.Count < volume.Geometry.BlockCount)
        {
            // Blocks are still missing (requests crossed the final round): ask again; the source answers with another final round.
            await RequestMissingAsync(c, rebuild.Requests, onlyUnrequested: false, ct).ConfigureAwait(false);
            return;
        }

        _observer.OnPhase(TransferPhase.Final);
        byte[] digest = volume.Verify(end.Digest);
        _stats.Rounds++;
        await c.SendAsync(new CompleteMessage(digest), ct).ConfigureAwait(false);
        _log.LogInformation("Migration {MigrationId}: volume verified ({Digest})", _options.MigrationId, Convert.ToHexStringLower(digest));
        _completed.TrySetResult();
    }

    private TransferResult Result(long currentConnectionBytes) =>
        _stats.Result(_rebuild?.Volume.Geometry ?? default, _rebuild?.State, currentConnectionBytes);

    public async ValueTask DisposeAsync()
    {
        await _listener.CloseAsync(() =>
        {
            _rebuild?.Dispose();
            _rebuild = null;
        }).ConfigureAwait(false);
        if (_buddies is not null)
            await _buddies.DisposeAsync().ConfigureAwait(false);
    }
}
