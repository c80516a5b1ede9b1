using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;
using Teleport.Transfer.Source;

namespace Teleport.Transfer;

/// <summary>
/// The sending side of one migration. <see cref="RunAsync"/> connects, streams the index, copies requested and dirty
/// blocks round after round until <see cref="Converged"/>, waits for <see cref="BeginCutover"/> (the caller pauses the
/// VM first), sends the final round and returns once the destination has verified the volume. Connection failures
/// are retried: nothing the destination acknowledged is sent again.
/// </summary>
public sealed class SourceSession : IAsyncDisposable
{
    private readonly SourceOptions _options;
    private readonly IDirtyTracker _tracker;
    private readonly ILogger _log;
    private readonly ITransferObserver _observer;
    private readonly Guid _sessionId = Guid.NewGuid();
    private readonly TaskCompletionSource _converged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _cutover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TokenBucket? _pacer;
    private readonly CompressionLevelController _levels;
    private readonly PendingBlocks _pending;
    private readonly InFlightWindow _window = new();
    private readonly Stopwatch _clock = new();

    // The rooms that work on the volume: set by RunAsync.
    private SourceVolume? _volume;
    private IndexStreamer _index = null!;
    private DataFramePipeline _data = null!;

    // Volatile: the reading task looks at it when a RequestEnd arrives.
    private volatile SourcePhase _phase = SourcePhase.Index;
    private int _round;
    private byte[]? _finalDigest;
    private IndexReport? _indexReport;
    private long _closedBytes;
    private int _reconnects;

    public SourceSession(SourceOptions options, IDirtyTracker tracker, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tracker);
        if (options.Tls is not { Mutual: true })
            Handshake.ValidateSecret(options.Secret);
        BlockSizes.Validate(options.BlockSize);
        if (options.Destination is null && options.Connect is null)
            throw new ArgumentException("SourceOptions needs Destination or Connect");
        if (tracker.BlockSize != options.BlockSize)
            throw new ArgumentException($"the dirty tracker works in {tracker.BlockSize}-byte blocks, the transfer in {options.BlockSize}");
        _options = options;
        _tracker = tracker;
        _log = logger ?? NullLogger.Instance;
        _observer = options.Observer ?? NoObserver.Instance;
        _pacer = options.Bandwidth.IsUnlimited ? null : new TokenBucket(options.Bandwidth);
        if (options.MaxCompressionWindowLog is < 20 or > ProtocolConstants.MaxWindowLog)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxCompressionWindowLog,
                $"MaxCompressionWindowLog must be 20..{ProtocolConstants.MaxWindowLog}");
        _levels = new CompressionLevelController(options.CompressionLevel, options.Bandwidth);
        _pending = new PendingBlocks(tracker);
    }

    /// <summary>Completes when the dirty set fell under the threshold or the round cap was hit: time to pause the VM.</summary>
    public Task Converged => _converged.Task;

    /// <summary>The cut-over: the caller has stopped the writers; send the last dirty blocks, verify, finish.</summary>
    public void BeginCutover() => _cutover.TrySetResult();

    /// <summary>Blocks still to send: dirty in the tracker plus taken but not yet sent.</summary>
    public long OutstandingBlocks => _pending.Outstanding;

    public async Task<TransferResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (_volume is not null)
            throw new InvalidOperationException("RunAsync was already called on this session");
        // Beside opening the volume and connecting: the handshake's first run in this process is then not on the link's clock.
        _ = HandshakeRehearsal.WarmOnce(_log);
        var volume = Open();
        _index.StartEarly();
        _clock.Start();
        try
        {
            return await RunWithRetriesAsync(volume.Geometry, cancellationToken).ConfigureAwait(false);
        }
        catch when (_phase != SourcePhase.Done)
        {
            // Blocks taken from the tracker but not acknowledged go back to it.
            _pending.ReturnToTracker();
            _window.ReturnToTracker(_tracker);
            throw;
        }
    }

    /// <summary>Opens the volume and wires the rooms that work on it.</summary>
    private SourceVolume Open()
    {
        var volume = _volume = SourceVolume.Open(_options.VolumePath, _options.BlockSize);
        var geometry = volume.Geometry;
        if (_tracker.BlockCount != geometry.BlockCount)
            throw new ArgumentException($"the dirty tracker covers {_tracker.BlockCount} blocks, the volume has {geometry.BlockCount}");
        _data = new DataFramePipeline(new FrameBuilder(volume, _pending), _pending, _window, _levels, _pacer, _options, geometry.Size, _log);
        _index = new IndexStreamer(new IndexScanner(volume), _data, _pending, geometry.BlockCount);
        return volume;
    }

    private async Task<TransferResult> RunWithRetriesAsync(VolumeGeometry geometry, CancellationToken ct)
    {
        int failures = 0;
        while (true)
        {
            TransferConnection? connection = null;
            try
            {
                _observer.OnPhase(TransferPhase.Connecting);
                Socket? socket;
                ResumeMessage resume;
                using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    handshake.CancelAfter(_options.HandshakeTimeout);
                    try
                    {
                        (var raw, socket) = await SourceHandshake.ConnectAsync(_options, handshake.Token).ConfigureAwait(false);
                        connection = await TransferConnection.OpenClientAsync(raw, _options.Tls, _pacer, handshake.Token).ConfigureAwait(false);
                        resume = await SourceHandshake.AuthenticateAsync(connection, _options, _sessionId, geometry, handshake.Token).ConfigureAwait(false);
                        connection.Reader.Authenticated();
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        // A destination that stalls the handshake is treated like a lost connection: retried, then given up.
                        throw new TransferException(TransferErrorCode.ConnectionLost, $"the destination did not complete the handshake within {_options.HandshakeTimeout}");
                    }
                }

                failures = 0;
                // The handshake's round trips gave the kernel its first RTT samples.
                if (socket is not null && TcpPathInfo.TryRead(socket, out var path))
                    _levels.ObservePath(path.RoundTrip);
                return await RunConnectionAsync(connection, socket, resume, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (IsConnectionFailure(e) && !ct.IsCancellationRequested)
            {
                await BackOffAsync(++failures, e, ct).ConfigureAwait(false);
            }
            catch (TransferException e) when (connection is not null)
            {
                await connection.TrySendErrorAsync(e).ConfigureAwait(false);
                throw;
            }
            finally
            {
                await _data.ReturnUnsentAsync().ConfigureAwait(false);
                if (connection is not null)
                {
                    _closedBytes += connection.Bytes;
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is TransferException { Code: TransferErrorCode.ConnectionLost } or SocketException or IOException;

    private async Task BackOffAsync(int failures, Exception e, CancellationToken ct)
    {
        if (failures > _options.MaxReconnectAttempts)
            throw new TransferException(TransferErrorCode.ConnectionLost, $"gave up after {_options.MaxReconnectAttempts} failed reconnects: {e.Message}", inner: e);
        _reconnects++;
        _log.LogWarning("Migration {MigrationId}: connection failed ({Error}); reconnecting (attempt {Attempt})", _options.MigrationId, e.Message, failures);
        _observer.OnReconnect(failures, e);
        await Task.Delay(_options.ReconnectDelay, ct).ConfigureAwait(false);
    }

    private async Task<TransferResult> RunConnectionAsync(TransferConnection c, Socket? socket, ResumeMessage resume, CancellationToken ct)
    {
        ApplyResume(resume);
        if (resume.Phase == DestinationPhase.Completed)
        {
            // Our FinalEnd was verified but its Complete got lost with the connection.
            if (_finalDigest is null || !CryptographicOperations.FixedTimeEquals(_finalDigest, resume.Digest))
                throw new TransferException(TransferErrorCode.VerificationFailed, "destination reports a completed migration this source did not finish");
            await c.SendAsync(new GoodbyeMessage(), ct).ConfigureAwait(false);
            return Finish(c);
        }

        _data.BeginConnection(socket);
        await _index.BeginConnectionAsync(streamsIndex: _phase == SourcePhase.Index).ConfigureAwait(false);
        _pending.BeginConnection();
        using var connectionStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var replies = new DestinationReplies(c, _window, _pending, _volume!.Geometry, _options.ResponseTimeout)
        {
            RequestEndArrived = end =>
            {
                if (_phase == SourcePhase.AwaitRequests)
                    ReportIndex(end);
            },
        };
        if (resume.Phase == DestinationPhase.Copy)
            replies.ExpectResumeList();
        var reader = replies.ReadAsync(connectionStop.Token);
        var sender = SendLoopAsync(c, replies, connectionStop.Token);
        var watchdog = replies.WatchAsync(connectionStop.Token);
        await Task.WhenAny(reader, sender, watchdog).ConfigureAwait(false);
        await connectionStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(reader, sender, watchdog).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // All three outcomes are inspected below.
        }

        return ConnectionOutcome.Of(reader, sender, watchdog, ct);
    }

    private void ApplyResume(ResumeMessage resume)
    {
        // Acknowledged batches are done; the rest is sent again.
        _window.Reopen(resume.DurableSeq, _pending);
        if (resume.IndexCursor > _volume!.Geometry.BlockCount)
            throw new TransferException(TransferErrorCode.OutOfRange, $"destination's index cursor {resume.IndexCursor} is past the volume");
        switch (resume.Phase)
        {
            case DestinationPhase.Index:
                _phase = SourcePhase.Index;
                _index.Next = resume.IndexCursor;
                _pending.DropFrom(resume.IndexCursor);
                break;
            case DestinationPhase.Copy when _phase == SourcePhase.Index:
                _phase = SourcePhase.AwaitRequests;
                break;
        }
    }

    /// <summary>The phase loop of one connection, from wherever the last one left off.</summary>
    private async Task<TransferResult> SendLoopAsync(TransferConnection c, DestinationReplies replies, CancellationToken ct)
    {
        if (_phase == SourcePhase.Index)
        {
            _observer.OnPhase(TransferPhase.Index);
            await _index.StreamAsync(c, ct).ConfigureAwait(false);
            _observer.OnPhase(TransferPhase.Request);
            // After the Request phase was announced: a RequestEnd that arrives from now on reports the index at once.
            _phase = SourcePhase.AwaitRequests;
        }

        var totals = await SendRequestedAsync(c, replies, ct).ConfigureAwait(false);
        if (_phase == SourcePhase.AwaitRequests)
        {
            ReportIndex(totals);
            _phase = SourcePhase.Copy;
        }

        if (_phase == SourcePhase.Copy)
        {
            _observer.OnPhase(TransferPhase.Copy);
            await CopyRoundsAsync(c, ct).ConfigureAwait(false);
            _phase = SourcePhase.Final;
        }

        _observer.OnPhase(TransferPhase.Final);
        return await FinalRoundAsync(c, replies, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Reports the index once per migration, when the destination's first RequestEnd arrives (on the reading task, not
    /// after the blocks requested before it were sent: under a rate limit that is seconds later).
    /// </summary>
    private void ReportIndex(RequestEndMessage totals)
    {
        var report = new IndexReport(_volume!.Geometry.BlockCount, totals.Zero, totals.FromIndex, totals.FromVolume, totals.Requested, _index.Bytes);
        if (Interlocked.CompareExchange(ref _indexReport, report, null) is null)
            _observer.OnIndexResolved(report);
    }

    /// <summary>
    /// The destination requests blocks while it resolves the index and ends its list with RequestEnd (after the index
    /// and on every connection after that). What is requested goes out at once: the link never waits for the list.
    /// </summary>
    private async Task<RequestEndMessage> SendRequestedAsync(TransferConnection c, DestinationReplies replies, CancellationToken ct)
    {
        while (true)
        {
            await _data.SendPendingAsync(c, ct).ConfigureAwait(false);
            var next = await replies.NextAsync(ct, requests: true).ConfigureAwait(false);
            if (next.RequestEnd is { } end)
                return end;
            if (next.CompleteDigest is not null)
                throw new TransferException(TransferErrorCode.UnexpectedMessage, "destination sent Complete before the final round");
        }
    }

    /// <summary>
    /// Copy rounds until converged and the cut-over was requested. A fenced cut-over goes at once, converged or not (a
    /// post-copy), and stops the round in progress at its next frame: the final round fences what it has not sent.
    /// </summary>
    private async Task CopyRoundsAsync(TransferConnection c, CancellationToken ct)
    {
        var stop = _options.FencedCutover ? _cutover.Task : null;
        while (true)
        {
            bool converged = _converged.Task.IsCompleted;
            if (stop is { IsCompleted: true } || (converged && await CutoverRequestedAsync(ct).ConfigureAwait(false)))
                return;
            var mark = new RoundMark(c, _data);
            if (_pending.TakeDirty() == 0 && converged)
                continue;

            if (!await _data.SendPendingAsync(c, ct, stop: stop).ConfigureAwait(false))
            {
                _log.LogInformation("Migration {MigrationId}: cut-over during round {Round}; {Blocks} of its blocks go to the fenced final round",
                    _options.MigrationId, _round + 1, OutstandingBlocks);
                return;
            }

            _round++;
            await c.SendAsync(new RoundEndMessage(_round), ct).ConfigureAwait(false);

            long dirty = OutstandingBlocks;
            _observer.OnRound(mark.Report(_round, c, _data, dirty, final: false));
            if (!converged && (dirty <= _options.DirtyThresholdBlocks || _round >= _options.MaxRounds))
            {
                _log.LogInformation("Migration {MigrationId}: converged after round {Round} with {Dirty} dirty blocks", _options.MigrationId, _round, dirty);
                _converged.TrySetResult();
                _observer.OnPhase(TransferPhase.Converged);
                if (_options.AutoCutover)
                    BeginCutover();
            }
        }
    }

    /// <summary>Once converged, rounds continue every <see cref="SourceOptions.IdleRoundInterval"/> until the cut-over.</summary>
    private async Task<bool> CutoverRequestedAsync(CancellationToken ct)
    {
        if (_cutover.Task.IsCompleted)
            return true;
        await Task.WhenAny(_cutover.Task, Task.Delay(_options.IdleRoundInterval, ct)).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
        return _cutover.Task.IsCompleted;
    }

    /// <summary>The last dirty blocks and the digest, again until the destination has all it asked for and agrees.</summary>
    private async Task<TransferResult> FinalRoundAsync(TransferConnection c, DestinationReplies replies, CancellationToken ct)
    {
        bool announce = _options.FencedCutover;
        while (true)
        {
            // A round stopped for the cut-over owes the frame it built: it goes before the list, so its blocks (read
            // before the pause) land before the fence is armed and any of them dirtied since is fenced and sent again.
            await _data.SendBuiltAsync(c, ct).ConfigureAwait(false);
            var mark = new RoundMark(c, _data);
            _pending.TakeDirty();
            if (announce)
            {
                // On every connection: a destination that lost the list with the connection has not armed its fence yet.
                await FenceList.SendAsync(c, _pending.Snapshot(), ct).ConfigureAwait(false);
                announce = false;
            }

            await _data.SendPendingAsync(c, ct).ConfigureAwait(false);
            _finalDigest = _volume!.Digest();
            await c.SendAsync(new FinalEndMessage(_window.LastSeqOnConnection, _finalDigest), ct).ConfigureAwait(false);

            var outcome = await replies.NextAsync(ct).ConfigureAwait(false);
            if (outcome.CompleteDigest is not { } digest)
                continue; // more blocks were requested: another final round

            if (!CryptographicOperations.FixedTimeEquals(digest, _finalDigest))
                throw new TransferException(TransferErrorCode.VerificationFailed,
                    $"destination digest {Convert.ToHexStringLower(digest)} differs from the source's {Convert.ToHexStringLower(_finalDigest)}");
            _round++;
            _observer.OnRound(mark.Report(_round, c, _data, 0, final: true));
            await c.SendAsync(new GoodbyeMessage(), ct).ConfigureAwait(false);
            return Finish(c);
        }
    }

    private TransferResult Finish(TransferConnection c)
    {
        _phase = SourcePhase.Done;
        _observer.OnPhase(TransferPhase.Completed);
        return new TransferResult(
            BytesOnWire: _closedBytes + c.Bytes,
            IndexBytes: _index.Bytes,
            DataBytes: _data.Bytes,
            Blocks: _volume!.Geometry.BlockCount,
            ZeroBlocks: _indexReport?.ZeroBlocks ?? _index.ZeroBlocks,
            BlocksFromIndex: _indexReport?.FromIndex ?? 0,
            BlocksFromVolume: _indexReport?.FromVolume ?? 0,
            BlocksSent: _data.BlocksSent,
            Rounds: _round,
            Seconds: _clock.Elapsed.TotalSeconds,
            Verified: true,
            Reconnects: _reconnects,
            VolumeDigest: _finalDigest!);
    }

    /// <summary>Releases the volume handle; call after <see cref="RunAsync"/> has returned.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_index is not null)
            await _index.DiscardEarlyAsync().ConfigureAwait(false);
        _volume?.Dispose();
        _data?.Dispose();
        _window.Dispose();
    }
}
