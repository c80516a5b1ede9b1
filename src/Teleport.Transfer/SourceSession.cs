using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The sending side of one migration. <see cref="RunAsync"/> connects, streams the index, copies requested and dirty
/// blocks round after round until <see cref="Converged"/>, waits for <see cref="BeginCutover"/> (the caller pauses the
/// VM first), sends the final round and returns once the destination has verified the volume. Connection failures
/// are retried: nothing the destination acknowledged is sent again.
/// </summary>
public sealed class SourceSession : IAsyncDisposable
{
    // Repeat detection remembers this many distinct fingerprints per connection (24 B each); later repeats go as fingerprints.
    private const int MaxRepeatEntries = 1 << 22;
    private const int DataFramesPerIndexBatch = 4;
    private const int IndexBatchesAhead = 8;
    private const int IndexBatchBufferSize = ProtocolConstants.IndexBatchTarget + 64;
    private static readonly TimeSpan IndexIdlePoll = TimeSpan.FromMilliseconds(2);

    private readonly SourceOptions _options;
    private readonly IDirtyTracker _tracker;
    private readonly ILogger _log;
    private readonly ITransferObserver _observer;
    private readonly Guid _sessionId = Guid.NewGuid();
    private readonly TaskCompletionSource _converged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _cutover = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TokenBucket? _pacer;
    private readonly CompressionLevelController _levels;
    private Socket? _socket;
    private readonly Dictionary<Fingerprint, long> _repeats = new();
    private readonly Lock _lock = new();
    private readonly Queue<InFlightBatch> _inFlight = new();
    private readonly SemaphoreSlim _acked = new(0);
    // Two frames: one is built and compressed (on a pool thread) while the other goes out.
    private readonly PreparedFrame[] _frames = [new(), new()];
    // The index scan has its own buffer: Data frames go out in the middle of a scanned chunk.
    private readonly byte[] _scanBuffer = new byte[ProtocolConstants.MaxBatchBytes];
    private readonly List<BlockRun> _taken = [];
    private readonly Stopwatch _clock = new();

    private VolumeFile? _volume;
    private VolumeGeometry _geometry;
    private Fingerprint _zero;
    private Fingerprint[] _fingerprints = [];
    private BlockBitmap _pending = new(0);
    private byte[] _pad = [];
    private SourcePhase _phase = SourcePhase.Index;
    private long _indexNext, _nextSeq, _lastSeqOnConnection, _unackedBytes, _scan;
    private int _round;
    private bool _initialDirtyDropped, _awaitingReply;
    private long _lastReceived;
    private byte[]? _finalDigest;
    private IndexReport? _indexReport;
    private StreamCompressor? _stream;
    private int _windowLog;
    private long _listedCount;
    private int _nextFrame;
    private Task<PreparedFrame?>? _lookahead;

    // Statistics.
    private long _closedBytes, _indexBytes, _dataBytes, _zeroBlocks, _blocksSent, _zeroSentTotal;
    private int _reconnects;

    public SourceSession(SourceOptions options, IDirtyTracker tracker, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tracker);
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
    }

    /// <summary>Completes when the dirty set fell under the threshold or the round cap was hit: time to pause the VM.</summary>
    public Task Converged => _converged.Task;

    /// <summary>The cut-over: the caller has stopped the writers; send the last dirty blocks, verify, finish.</summary>
    public void BeginCutover() => _cutover.TrySetResult();

    /// <summary>Blocks still to send: dirty in the tracker plus taken but not yet sent.</summary>
    public long OutstandingBlocks
    {
        get
        {
            lock (_lock)
                return _tracker.DirtyCount + _pending.Count;
        }
    }

    public async Task<TransferResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (_volume is not null)
            throw new InvalidOperationException("RunAsync was already called on this session");
        _volume = VolumeFile.OpenRead(_options.VolumePath);
        _geometry = new VolumeGeometry(_volume.Length, _options.BlockSize);
        if (_tracker.BlockCount != _geometry.BlockCount)
            throw new ArgumentException($"the dirty tracker covers {_tracker.BlockCount} blocks, the volume has {_geometry.BlockCount}");
        _zero = ZeroFingerprints.For(_geometry.BlockSize);
        _fingerprints = new Fingerprint[_geometry.BlockCount];
        _pending = new BlockBitmap(_geometry.BlockCount);
        _pad = new byte[_geometry.BlockSize];
        foreach (var frame in _frames)
            frame.Pad = new byte[_geometry.BlockSize];
        _windowLog = StreamCompressor.WindowLogFor(_geometry.Size, _options.MaxCompressionWindowLog);
        _clock.Start();

        int failures = 0;
        try
        {
            while (true)
            {
                TransferConnection? connection = null;
                try
                {
                    _observer.OnPhase(TransferPhase.Connecting);
                    var raw = await ConnectAsync(cancellationToken).ConfigureAwait(false);
                    connection = await TransferConnection.OpenClientAsync(raw, _options.Tls, _pacer, cancellationToken).ConfigureAwait(false);
                    var resume = await AuthenticateAsync(connection, cancellationToken).ConfigureAwait(false);
                    failures = 0;
                    // The handshake's round trips gave the kernel its first RTT samples.
                    if (_socket is not null && TcpPathInfo.TryRead(_socket, out var path))
                        _levels.ObservePath(path.RoundTrip);
                    return await RunConnectionAsync(connection, resume, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsConnectionFailure(e) && !cancellationToken.IsCancellationRequested)
                {
                    failures++;
                    if (failures > _options.MaxReconnectAttempts)
                        throw new TransferException(TransferErrorCode.ConnectionLost, $"gave up after {_options.MaxReconnectAttempts} failed reconnects: {e.Message}", inner: e);
                    _reconnects++;
                    _log.LogWarning("Migration {MigrationId}: connection failed ({Error}); reconnecting (attempt {Attempt})", _options.MigrationId, e.Message, failures);
                    _observer.OnReconnect(failures, e);
                    await Task.Delay(_options.ReconnectDelay, cancellationToken).ConfigureAwait(false);
                }
                catch (TransferException e) when (connection is not null)
                {
                    await connection.TrySendErrorAsync(e).ConfigureAwait(false);
                    throw;
                }
                finally
                {
                    await ReturnUnsentFramesAsync().ConfigureAwait(false);
                    if (connection is not null)
                    {
                        _closedBytes += connection.Bytes;
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        catch when (_phase != SourcePhase.Done)
        {
            GiveBackUndelivered();
            throw;
        }
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is TransferException { Code: TransferErrorCode.ConnectionLost } or SocketException or IOException;

    /// <summary>On failure, blocks taken from the tracker but not acknowledged go back to it.</summary>
    private void GiveBackUndelivered()
    {
        lock (_lock)
        {
            foreach (var run in _pending.Runs())
                _tracker.MarkDirty(run.Start, run.Count);
            foreach (var batch in _inFlight)
            {
                foreach (var run in batch.Runs)
                    _tracker.MarkDirty(run.Start, run.Count);
            }

            _pending.ClearAll();
            _inFlight.Clear();
        }
    }

    private async Task<Stream> ConnectAsync(CancellationToken ct)
    {
        _socket = null;
        if (_options.Connect is { } connect)
            return await connect(ct).ConfigureAwait(false);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            SocketTuning.Apply(socket);
            await socket.ConnectAsync(_options.Destination!, ct).ConfigureAwait(false);
            _socket = socket;
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<ResumeMessage> AuthenticateAsync(TransferConnection c, CancellationToken ct)
    {
        var hello = new HelloMessage(ProtocolConstants.MinVersion, ProtocolConstants.MaxVersion, _options.MigrationId, _sessionId,
            RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize), _geometry.Size, _geometry.BlockSize);
        byte[] helloBytes = new byte[HelloMessage.Size];
        hello.Write(helloBytes);
        await c.SendAsync(MessageType.Hello, helloBytes, ct).ConfigureAwait(false);

        var challengeFrame = await c.ExpectAsync(MessageType.Challenge, ct).ConfigureAwait(false);
        byte[] challengeBytes = challengeFrame.Payload.ToArray();
        var challenge = ChallengeMessage.Parse(challengeBytes);
        if (challenge.Version < ProtocolConstants.MinVersion || challenge.Version > ProtocolConstants.MaxVersion)
            throw new TransferException(TransferErrorCode.UnsupportedVersion,
                $"destination chose protocol version {challenge.Version}; this source speaks {ProtocolConstants.MinVersion}..{ProtocolConstants.MaxVersion}");

        byte[] transcript = Handshake.TranscriptHash(helloBytes, challengeBytes);
        await c.SendAsync(new ProofMessage(MessageType.SourceProof, Handshake.Proof(_options.Secret, source: true, transcript)), ct).ConfigureAwait(false);
        var proofFrame = await c.ExpectAsync(MessageType.DestinationProof, ct).ConfigureAwait(false);
        var proof = ProofMessage.Parse(proofFrame.Payload.Span, MessageType.DestinationProof);
        if (!Handshake.Check(Handshake.Proof(_options.Secret, source: false, transcript), proof.Mac))
            throw new TransferException(TransferErrorCode.AuthenticationFailed, "the destination could not prove the migration secret");

        var resumeFrame = await c.ExpectAsync(MessageType.Resume, ct).ConfigureAwait(false);
        return ResumeMessage.Parse(resumeFrame.Payload.Span);
    }

    private async Task<TransferResult> RunConnectionAsync(TransferConnection c, ResumeMessage resume, CancellationToken ct)
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

        // Every connection starts a fresh zstd stream (the destination starts a fresh decoder): frames lost with the old
        // connection are re-read and re-compressed, so neither side needs the other's history.
        _stream?.Dispose();
        _stream = _levels.Level != 0 ? new StreamCompressor(_levels.Level, _windowLog) : null;
        _repeats.Clear();
        _listedCount = 0;
        var events = Channel.CreateUnbounded<ControlEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var connectionStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
        var reader = ReadLoopAsync(c, events.Writer, connectionStop.Token);
        var sender = SendLoopAsync(c, events.Reader, connectionStop.Token);
        var watchdog = WatchdogAsync(connectionStop.Token);
        await Task.WhenAny(reader, sender, watchdog).ConfigureAwait(false);
        await connectionStop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(reader, sender, watchdog).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Both outcomes are inspected below.
        }

        if (sender.IsCompletedSuccessfully)
            return sender.Result;
        if (watchdog.Exception?.InnerException is { } silence)
            ExceptionDispatchInfo.Throw(silence);
        // Prefer what the peer reported (or a protocol error) over the lost connection or cancellation it caused.
        var readerError = reader.Exception?.InnerException;
        var senderError = sender.Exception?.InnerException;
        if (readerError is TransferException { Code: not TransferErrorCode.ConnectionLost })
            ExceptionDispatchInfo.Throw(readerError);
        if (senderError is not null and not OperationCanceledException)
            ExceptionDispatchInfo.Throw(senderError);
        if (readerError is not null and not OperationCanceledException)
            ExceptionDispatchInfo.Throw(readerError);
        ct.ThrowIfCancellationRequested();
        throw TransferException.Lost("connection ended");
    }

    /// <summary>
    /// A connection that dies silently while we wait for the destination (acknowledgements of data in flight, the
    /// request list, the final Complete) is declared lost after <see cref="SourceOptions.ResponseTimeout"/>;
    /// an idle connection (nothing outstanding) is left to TCP keepalive.
    /// </summary>
    private async Task WatchdogAsync(CancellationToken ct)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_options.ResponseTimeout.TotalMilliseconds / 4, 10, 1000));
        try
        {
            while (true)
            {
                await Task.Delay(period, ct).ConfigureAwait(false);
                bool waiting = Volatile.Read(ref _unackedBytes) > 0 || Volatile.Read(ref _awaitingReply);
                if (!waiting)
                {
                    Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
                    continue;
                }

                if (Stopwatch.GetElapsedTime(Volatile.Read(ref _lastReceived)) > _options.ResponseTimeout)
                    throw TransferException.Lost($"no response from the destination for {_options.ResponseTimeout.TotalSeconds:0} s");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void ApplyResume(ResumeMessage resume)
    {
        lock (_lock)
        {
            // Acknowledged batches are done; the rest is sent again (re-read, so it carries the newest content).
            foreach (var batch in _inFlight)
            {
                if (batch.Seq <= resume.DurableSeq)
                    continue;
                foreach (var run in batch.Runs)
                    _pending.SetRange(run.Start, run.Count);
            }

            _inFlight.Clear();
            _unackedBytes = 0;
        }

        _lastSeqOnConnection = resume.DurableSeq;
        if (resume.IndexCursor > _geometry.BlockCount)
            throw new TransferException(TransferErrorCode.OutOfRange, $"destination's index cursor {resume.IndexCursor} is past the volume");
        switch (resume.Phase)
        {
            case DestinationPhase.Index:
                _phase = SourcePhase.Index;
                _indexNext = resume.IndexCursor;
                break;
            case DestinationPhase.Copy when _phase == SourcePhase.Index:
                _phase = SourcePhase.AwaitRequests;
                break;
        }
    }

    private async Task ReadLoopAsync(TransferConnection c, ChannelWriter<ControlEvent> events, CancellationToken ct)
    {
        var runs = new List<BlockRun>();
        while (true)
        {
            var frame = await c.Reader.ReadAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _lastReceived, Stopwatch.GetTimestamp());
            switch (frame.Type)
            {
                case MessageType.Ack:
                {
                    long seq = AckMessage.Parse(frame.Payload.Span).Seq;
                    lock (_lock)
                    {
                        while (_inFlight.TryPeek(out var batch) && batch.Seq <= seq)
                        {
                            _inFlight.Dequeue();
                            _unackedBytes -= batch.Bytes;
                        }
                    }

                    _acked.Release();
                    break;
                }

                case MessageType.Request:
                    runs.Clear();
                    RequestMessage.Parse(frame.Payload.Span, _geometry, runs);
                    lock (_lock)
                    {
                        foreach (var run in runs)
                            _pending.SetRange(run.Start, run.Count);
                    }

                    events.TryWrite(ControlEvent.MoreRequested);
                    break;

                case MessageType.RequestEnd:
                    events.TryWrite(new ControlEvent(RequestEndMessage.Parse(frame.Payload.Span), null));
                    break;

                case MessageType.Complete:
                    events.TryWrite(new ControlEvent(null, CompleteMessage.Parse(frame.Payload.Span).Digest));
                    break;

                case MessageType.Error:
                    throw ErrorMessage.Parse(frame.Payload.Span);

                default:
                    throw TransferConnection.Unexpected(frame.Type, "source expects Ack, Request, RequestEnd or Complete");
            }
        }
    }

    private async Task<TransferResult> SendLoopAsync(TransferConnection c, ChannelReader<ControlEvent> events, CancellationToken ct)
    {
        if (_phase == SourcePhase.Index)
        {
            _observer.OnPhase(TransferPhase.Index);
            await StreamIndexAsync(c, ct).ConfigureAwait(false);
            _phase = SourcePhase.AwaitRequests;
            _observer.OnPhase(TransferPhase.Request);
        }

        // The destination requests blocks while it resolves the index and ends its list with RequestEnd (after the index
        // and on every connection after that). What is requested goes out at once: the link never waits for the list.
        RequestEndMessage totals;
        while (true)
        {
            await SendPendingAsync(c, ct).ConfigureAwait(false);
            var next = await NextEventAsync(events, ct, requests: true).ConfigureAwait(false);
            if (next.RequestEnd is { } end)
            {
                totals = end;
                break;
            }

            if (next.CompleteDigest is not null)
                throw new TransferException(TransferErrorCode.UnexpectedMessage, "destination sent Complete before the final round");
        }

        if (_phase == SourcePhase.AwaitRequests)
        {
            _indexReport ??= new IndexReport(_geometry.BlockCount, totals.Zero, totals.FromIndex, totals.FromVolume, totals.Requested, _indexBytes);
            _observer.OnIndexResolved(_indexReport);
            _phase = SourcePhase.Copy;
        }

        if (_phase == SourcePhase.Copy)
        {
            _observer.OnPhase(TransferPhase.Copy);
            await CopyRoundsAsync(c, ct).ConfigureAwait(false);
            _phase = SourcePhase.Final;
        }

        _observer.OnPhase(TransferPhase.Final);
        while (true)
        {
            var started = Stopwatch.GetTimestamp();
            long wireBefore = c.Writer.BytesWritten, sentBefore = _blocksSent, zeroBefore = _zeroSentTotal;
            lock (_lock)
                TakeDirty();
            await SendPendingAsync(c, ct).ConfigureAwait(false);
            _finalDigest = VolumeDigest.Compute(_geometry, _fingerprints);
            await c.SendAsync(new FinalEndMessage(_lastSeqOnConnection, _finalDigest), ct).ConfigureAwait(false);

            var outcome = await NextEventAsync(events, ct).ConfigureAwait(false);
            if (outcome.CompleteDigest is not { } digest)
                continue; // more blocks were requested: another final round

            if (!CryptographicOperations.FixedTimeEquals(digest, _finalDigest))
                throw new TransferException(TransferErrorCode.VerificationFailed,
                    $"destination digest {Convert.ToHexStringLower(digest)} differs from the source's {Convert.ToHexStringLower(_finalDigest)}");
            _round++;
            _observer.OnRound(new RoundReport(_round, _blocksSent - sentBefore, _zeroSentTotal - zeroBefore,
                c.Writer.BytesWritten - wireBefore, Stopwatch.GetElapsedTime(started).TotalSeconds, 0, Final: true));
            await c.SendAsync(new GoodbyeMessage(), ct).ConfigureAwait(false);
            return Finish(c);
        }
    }

    /// <summary>The next RequestEnd or Complete; with <paramref name="requests"/> also returns when more blocks were requested.</summary>
    private async Task<ControlEvent> NextEventAsync(ChannelReader<ControlEvent> events, CancellationToken ct, bool requests = false)
    {
        Volatile.Write(ref _awaitingReply, true);
        try
        {
            while (true)
            {
                var next = await events.ReadAsync(ct).ConfigureAwait(false);
                if (requests || !next.Requested)
                    return next;
            }
        }
        finally
        {
            Volatile.Write(ref _awaitingReply, false);
        }
    }

    private TransferResult Finish(TransferConnection c)
    {
        _phase = SourcePhase.Done;
        _observer.OnPhase(TransferPhase.Completed);
        return new TransferResult(
            BytesOnWire: _closedBytes + c.Bytes,
            IndexBytes: _indexBytes,
            DataBytes: _dataBytes,
            Blocks: _geometry.BlockCount,
            ZeroBlocks: _indexReport?.ZeroBlocks ?? _zeroBlocks,
            BlocksFromIndex: _indexReport?.FromIndex ?? 0,
            BlocksFromVolume: _indexReport?.FromVolume ?? 0,
            BlocksSent: _blocksSent,
            Rounds: _round,
            Seconds: _clock.Elapsed.TotalSeconds,
            Verified: true,
            Reconnects: _reconnects,
            VolumeDigest: _finalDigest!);
    }

    /// <summary>
    /// Index phase: one entry per block from the cursor on: zero runs as intervals, repeats as back-references, other
    /// blocks as fingerprints. The volume is hashed on its own thread, ahead of the link (a few batches queued); this
    /// loop puts the batches on the wire as they come and, between them, the blocks the destination already asked
    /// for, so the link carries data while the rest of the volume is hashed and the destination resolves the index.
    /// </summary>
    private async Task StreamIndexAsync(TransferConnection c, CancellationToken ct)
    {
        if (!_initialDirtyDropped)
        {
            // Writes before this point are covered by reading the volume now; track only what changes from here on.
            _taken.Clear();
            _tracker.TakeDirty(0, _geometry.BlockCount, _taken);
            _taken.Clear();
            _initialDirtyDropped = true;
        }

        var batches = Channel.CreateBounded<ScannedBatch>(new BoundedChannelOptions(IndexBatchesAhead) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long from = _indexNext;
        var scan = Task.Run(() => ScanAsync(from, batches.Writer, stop.Token), CancellationToken.None);
        try
        {
            var reader = batches.Reader;
            while (true)
            {
                bool sent = false;
                while (reader.TryRead(out var batch))
                {
                    await SendIndexBatchAsync(c, batch, ct).ConfigureAwait(false);
                    sent = true;
                }

                if (reader.Completion.IsCompleted)
                    break;
                long seqBefore = _nextSeq;
                await SendPendingAsync(c, ct, DataFramesPerIndexBatch).ConfigureAwait(false);
                if (!sent && _nextSeq == seqBefore)
                {
                    // Nothing to send yet: wait for the next batch, looking for new requests every few milliseconds.
                    await Task.WhenAny(reader.WaitToReadAsync(ct).AsTask(), Task.Delay(IndexIdlePoll, ct)).ConfigureAwait(false);
                    ct.ThrowIfCancellationRequested();
                }
            }

            await scan.ConfigureAwait(false);
        }
        finally
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

            while (batches.Reader.TryRead(out var unsent))
                ArrayPool<byte>.Shared.Return(unsent.Buffer);
        }

        long before = c.Writer.BytesWritten;
        await c.SendAsync(new IndexEndMessage(_geometry.BlockCount), ct).ConfigureAwait(false);
        _indexBytes += c.Writer.BytesWritten - before;
    }

    /// <summary>Reads and hashes the volume from <paramref name="block"/> on, writing IndexBatch payloads.</summary>
    private async Task ScanAsync(long block, ChannelWriter<ScannedBatch> batches, CancellationToken ct)
    {
        try
        {
            int perChunk = _scanBuffer.Length / _geometry.BlockSize;
            byte[] buffer = ArrayPool<byte>.Shared.Rent(IndexBatchBufferSize);
            int length = BeginIndexBatch(buffer, block);
            long zeros = 0, zeroStart = -1;
            while (block < _geometry.BlockCount)
            {
                ct.ThrowIfCancellationRequested();
                long n = Math.Min(perChunk, _geometry.BlockCount - block);
                int bytes = (int)_geometry.RunBytes(block, n);
                _volume!.Read(_scanBuffer.AsSpan(0, bytes), _geometry.Offset(block));
                for (int i = 0; i < n; i++, block++)
                {
                    var data = _scanBuffer.AsSpan(i * _geometry.BlockSize, _geometry.BlockLength(block));
                    if (ZeroBlocks.IsZero(data))
                    {
                        _fingerprints[block] = _zero;
                        if (zeroStart < 0)
                            zeroStart = block;
                        continue;
                    }

                    if (zeroStart >= 0)
                    {
                        length = AppendZeroRun(buffer, length, block - zeroStart);
                        zeros += block - zeroStart;
                        zeroStart = -1;
                    }

                    var fingerprint = Hash(data);
                    _fingerprints[block] = fingerprint;
                    if (_repeats.TryGetValue(fingerprint, out long ordinal))
                    {
                        // Same content as a fingerprint already listed on this connection: a back-reference instead of 32 bytes.
                        buffer[length++] = ProtocolConstants.EntryRepeat;
                        length += Varint.Write(buffer.AsSpan(length), (ulong)(_listedCount - ordinal));
                    }
                    else
                    {
                        if (_repeats.Count < MaxRepeatEntries)
                            _repeats.Add(fingerprint, _listedCount);
                        _listedCount++;
                        buffer[length++] = ProtocolConstants.EntryFingerprint;
                        fingerprint.WriteTo(buffer.AsSpan(length));
                        length += Fingerprint.Size;
                    }

                    if (length >= ProtocolConstants.IndexBatchTarget)
                    {
                        await batches.WriteAsync(new ScannedBatch(buffer, length, block + 1, zeros), ct).ConfigureAwait(false);
                        buffer = ArrayPool<byte>.Shared.Rent(IndexBatchBufferSize);
                        length = BeginIndexBatch(buffer, block + 1);
                        zeros = 0;
                    }
                }
            }

            if (zeroStart >= 0)
            {
                length = AppendZeroRun(buffer, length, block - zeroStart);
                zeros += block - zeroStart;
            }

            if (length > 8)
                await batches.WriteAsync(new ScannedBatch(buffer, length, block, zeros), ct).ConfigureAwait(false);
            else
                ArrayPool<byte>.Shared.Return(buffer);
            batches.Complete();
        }
        catch (Exception e)
        {
            batches.TryComplete(e);
            throw;
        }
    }

    private static int BeginIndexBatch(byte[] buffer, long firstBlock)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, (ulong)firstBlock);
        return 8;
    }

    private static int AppendZeroRun(byte[] buffer, int length, long count)
    {
        while (count > 0)
        {
            uint part = (uint)Math.Min(count, uint.MaxValue);
            buffer[length++] = ProtocolConstants.EntryZeroRun;
            length += Varint.Write(buffer.AsSpan(length), part);
            count -= part;
        }

        return length;
    }

    private async ValueTask SendIndexBatchAsync(TransferConnection c, ScannedBatch batch, CancellationToken ct)
    {
        try
        {
            long before = c.Writer.BytesWritten;
            await c.SendAsync(MessageType.IndexBatch, batch.Buffer.AsSpan(0, batch.Length), ct).ConfigureAwait(false);
            _indexBytes += c.Writer.BytesWritten - before;
            _indexNext = batch.Next;
            _zeroBlocks += batch.ZeroBlocks;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch.Buffer);
        }
    }

    private Fingerprint Hash(ReadOnlySpan<byte> data) => Hash(data, _pad);

    /// <summary>The fingerprint of a block, a partial last block zero-padded in <paramref name="pad"/>.</summary>
    private Fingerprint Hash(ReadOnlySpan<byte> data, byte[] pad)
    {
        if (data.Length == _geometry.BlockSize)
            return Fingerprint.Compute(data);
        data.CopyTo(pad);
        pad.AsSpan(data.Length).Clear();
        return Fingerprint.Compute(pad);
    }

    private void TakeDirty()
    {
        _taken.Clear();
        _tracker.TakeDirty(0, _geometry.BlockCount, _taken);
        foreach (var run in _taken)
            _pending.SetRange(run.Start, run.Count);
        _taken.Clear();
    }

    /// <summary>Copy rounds until converged and the cut-over was requested.</summary>
    private async Task CopyRoundsAsync(TransferConnection c, CancellationToken ct)
    {
        while (true)
        {
            bool converged = _converged.Task.IsCompleted;
            if (converged)
            {
                if (_cutover.Task.IsCompleted)
                    return;
                await Task.WhenAny(_cutover.Task, Task.Delay(_options.IdleRoundInterval, ct)).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                if (_cutover.Task.IsCompleted)
                    return;
            }

            var started = Stopwatch.GetTimestamp();
            long wireBefore = c.Writer.BytesWritten, sentBefore = _blocksSent, zeroBefore = _zeroSentTotal;
            lock (_lock)
            {
                TakeDirty();
                if (converged && _pending.Count == 0)
                    continue;
            }

            _round++;
            await SendPendingAsync(c, ct).ConfigureAwait(false);
            await c.SendAsync(new RoundEndMessage(_round), ct).ConfigureAwait(false);

            long dirty = OutstandingBlocks;
            _observer.OnRound(new RoundReport(_round, _blocksSent - sentBefore, _zeroSentTotal - zeroBefore,
                c.Writer.BytesWritten - wireBefore, Stopwatch.GetElapsedTime(started).TotalSeconds, dirty, Final: false));
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

    /// <summary>
    /// Sends pending blocks as Data frames (at most <paramref name="maxFrames"/>; by default until nothing is pending),
    /// back to back: acknowledgements come back asynchronously. The next frame is read, hashed and compressed on a pool
    /// thread while the current one is paced onto the link, so compression and the link overlap instead of adding up.
    /// </summary>
    private async Task SendPendingAsync(TransferConnection c, CancellationToken ct, int maxFrames = int.MaxValue)
    {
        for (int frames = 0; frames < maxFrames; frames++)
        {
            while (Volatile.Read(ref _unackedBytes) > _options.MaxUnackedBytes)
                await _acked.WaitAsync(ct).ConfigureAwait(false);

            long starvedFrom = Stopwatch.GetTimestamp();
            // Until the pacer's debt is paid the link is busy anyway: only waiting beyond it leaves the link idle.
            double busyLink = _pacer?.DebtSeconds ?? 0;
            PreparedFrame? frame;
            if (_lookahead is { } ahead)
            {
                _lookahead = null;
                // A look-ahead that found nothing may be older than the latest requests: look again.
                frame = await ahead.ConfigureAwait(false) ?? Prepare();
            }
            else
            {
                frame = Prepare();
            }

            if (frame is null)
                return;
            double starved = Math.Max(0, Stopwatch.GetElapsedTime(starvedFrom).TotalSeconds - busyLink);
            // Unpaced, the socket buffer hides the link: if the kernel still has data to put out, the link did not wait.
            if (_pacer is null && starved > 0 && _socket is not null && TcpPathInfo.TryRead(_socket, out var tcp) && tcp.LinkBusy)
                starved = 0;
            // The next frame is built while this one goes out; when the caller stops here (between index batches) it
            // keeps building alongside the index scan. It already advanced the zstd stream: it is the next one sent.
            _lookahead = Task.Run(Prepare, ct);
            await SendFrameAsync(c, frame, starved, ct).ConfigureAwait(false);
        }
    }

    private async Task SendFrameAsync(TransferConnection c, PreparedFrame frame, double starvedSeconds, CancellationToken ct)
    {
        long seq = ++_nextSeq;
        var runs = frame.Runs.AsSpan(0, frame.RunCount).ToArray();
        lock (_lock)
        {
            _inFlight.Enqueue(new InFlightBatch(seq, runs, frame.CoveredBytes));
            _unackedBytes += frame.CoveredBytes;
        }

        var body = frame.Body;
        int header = DataMessage.HeaderSize(runs.Length);
        var span = c.Writer.GetPayloadSpan(header + body.Length);
        DataMessage.WriteHeader(span, seq, runs, frame.RawLength);
        body.CopyTo(span[header..]);
        long waitStart = Stopwatch.GetTimestamp();
        long before = c.Writer.BytesWritten;
        await c.Writer.CommitAsync(MessageType.Data, frame.Flags, header + body.Length, ct).ConfigureAwait(false);
        _dataBytes += c.Writer.BytesWritten - before;
        _lastSeqOnConnection = seq;
        _blocksSent += frame.Blocks;
        _zeroSentTotal += frame.ZeroBlocks;
        if ((frame.Flags & ProtocolConstants.FlagCompressed) != 0 &&
            _levels.Record(frame.BusySeconds, Stopwatch.GetElapsedTime(waitStart).TotalSeconds, starvedSeconds))
            _log.LogDebug("Migration {MigrationId}: zstd level {Level}", _options.MigrationId, _levels.Level);
    }

    /// <summary>Builds the next frame from pending blocks into a free buffer; null when nothing is pending.</summary>
    private PreparedFrame? Prepare()
    {
        long started = Stopwatch.GetTimestamp();
        var frame = _frames[_nextFrame];
        frame.RunCount = BuildBatch(frame, out frame.RawLength, out frame.CoveredBytes);
        if (frame.RunCount == 0)
            return null;
        _nextFrame ^= 1;
        if (_stream is not null && frame.RawLength > 0)
        {
            if (_stream.Level != _levels.Level)
                _stream.ChangeLevel(_levels.Level);
            // Every frame goes through the stream, so its window sees all the data: zstd stores what does not compress
            // as raw blocks (3 bytes per 128 KiB), and on CPU pressure the adaptive level drops instead.
            frame.BodyLength = _stream.Compress(frame.Raw.AsSpan(0, frame.RawLength), frame.Compressed);
            frame.Flags = ProtocolConstants.FlagCompressed;
        }
        else
        {
            frame.BodyLength = frame.RawLength;
            frame.Flags = 0;
        }

        frame.BusySeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return frame;
    }

    /// <summary>A frame built but not sent when the connection ended: its blocks are pending again.</summary>
    private async Task ReturnUnsentFramesAsync()
    {
        if (_lookahead is not { } pending)
            return;
        _lookahead = null;
        PreparedFrame? frame;
        try
        {
            frame = await pending.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or TransferException)
        {
            // It never ran, or it failed reading the volume (the session fails with that error elsewhere).
            return;
        }

        if (frame is null)
            return;
        lock (_lock)
        {
            foreach (var run in frame.Runs.AsSpan(0, frame.RunCount))
                _pending.SetRange(run.Start, run.Count);
        }
    }

    /// <summary>
    /// Takes up to one batch of pending blocks (in ascending order from where the last batch ended), reads them,
    /// fingerprints them, and splits them into data and zero runs with the data packed into the frame's raw buffer.
    /// </summary>
    private int BuildBatch(PreparedFrame frame, out int rawLength, out long coveredBytes)
    {
        var raw = frame.Raw;
        var runs = frame.Runs;
        frame.Blocks = frame.ZeroBlocks = 0;
        int blockSize = _geometry.BlockSize;
        int runCount = 0;
        rawLength = 0;
        coveredBytes = 0;
        int readAt = 0; // raw bytes read so far (data may be packed tighter behind it)
        while (true)
        {
            long start, count;
            lock (_lock)
            {
                start = _pending.NextSet(_scan);
                // Runs in a frame must ascend: wrap around to the start of the volume only between frames.
                if (start < 0 && _scan > 0 && runCount == 0)
                {
                    _scan = 0;
                    start = _pending.NextSet(0);
                }

                if (start < 0)
                    break;
                long budget = (raw.Length - readAt) / blockSize;
                if (budget == 0)
                    break;
                count = Math.Min(_pending.NextClear(start) - start, budget);
                _pending.ClearRange(start, count);
                _scan = start + count;
            }

            int bytes = (int)_geometry.RunBytes(start, count);
            _volume!.Read(raw.AsSpan(readAt, bytes), _geometry.Offset(start));
            int at = readAt;
            for (long b = start; b < start + count; b++)
            {
                int length = _geometry.BlockLength(b);
                var data = raw.AsSpan(at, length);
                bool zero = ZeroBlocks.IsZero(data);
                bool extends = runCount > 0 && runs[runCount - 1].Zero == zero && runs[runCount - 1].Start + runs[runCount - 1].Count == b;
                if (!extends && runCount == runs.Length)
                {
                    // No room for another run: the rest of this range goes back to pending.
                    lock (_lock)
                    {
                        _pending.SetRange(b, start + count - b);
                        _scan = Math.Min(_scan, b);
                    }

                    return runCount;
                }

                if (zero)
                {
                    _fingerprints[b] = _zero;
                    frame.ZeroBlocks++;
                }
                else
                {
                    _fingerprints[b] = Hash(data, frame.Pad);
                    if (at != rawLength)
                        data.CopyTo(raw.AsSpan(rawLength));
                    rawLength += length;
                }

                if (extends)
                    runs[runCount - 1] = runs[runCount - 1] with { Count = runs[runCount - 1].Count + 1 };
                else
                    runs[runCount++] = new DataRun(b, 1, zero);
                coveredBytes += length;
                frame.Blocks++;
                at += length;
            }

            readAt = rawLength;
        }

        return runCount;
    }

    /// <summary>Releases the volume handle; call after <see cref="RunAsync"/> has returned.</summary>
    public ValueTask DisposeAsync()
    {
        _volume?.Dispose();
        _stream?.Dispose();
        _acked.Dispose();
        return ValueTask.CompletedTask;
    }
}
