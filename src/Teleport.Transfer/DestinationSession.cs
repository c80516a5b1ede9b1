using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The receiving side of one migration: listens, authenticates every connection, rebuilds what it can from its
/// local index and from blocks already in the volume, asks for the rest, writes received blocks, checkpoints its
/// progress durably, and verifies the result. It outlives connections: a dropped source reconnects and continues.
/// A newer authenticated connection replaces an older one (whose peer may be gone without a FIN).
/// </summary>
public sealed class DestinationSession : IAsyncDisposable
{
    private readonly DestinationOptions _options;
    private readonly ILogger _log;
    private readonly ITransferObserver _observer;
    private readonly string _volumeFullPath;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TaskCompletionSource<TransferResult> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _handlers = [];
    private readonly Stopwatch _clock = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _active;

    // Migration state; touched only by the connection holding _gate.
    private DestinationState? _state;
    private BlockBitmap? _hint;
    private VolumeFile? _volume;
    private VolumeGeometry _geometry;
    private Fingerprint _zero;
    private Fingerprint[] _fingerprints = [];
    private BlockBitmap _fingerprintKnown = new(0);

    // Blocks written since the last checkpoint: read back after the flush, so the final digest is over what the
    // volume holds on disk, not over what this session believes it wrote.
    private BlockBitmap _readBack = new(0);
    private BlockBitmap _waiting = new(0);
    private readonly Dictionary<long, List<(long Block, Fingerprint Fingerprint)>> _waiters = new();
    private readonly Dictionary<ulong, long> _seen = new();
    private readonly HashSet<ulong> _batchKeys = [];
    private readonly List<DataRun> _runs = new(ProtocolConstants.MaxRunsPerBatch);
    private readonly List<long> _toRequest = [];
    private readonly List<Fingerprint> _listed = [];
    private BlockBitmap _requested = new(0);
    private StreamDecompressor? _decoder;

    // Index lookups of the current batch, done ahead on both cores (ascending blocks).
    private const int MaxPrefetch = 2048;
    private readonly long[] _prefetchBlock = new long[MaxPrefetch];
    private readonly Fingerprint[] _prefetchFingerprint = new Fingerprint[MaxPrefetch];
    private readonly bool[] _prefetchHit = new bool[MaxPrefetch];
    private byte[] _prefetchData = [];
    private int _prefetchCount, _prefetchNext;
    private readonly byte[] _raw = new byte[ProtocolConstants.MaxBatchBytes];
    private byte[] _block = [];
    private long _lastSeq, _ackedSeq, _bytesSinceCheckpoint, _lastCheckpointTicks;

    // Statistics.
    private long _closedConnectionBytes, _indexBytes, _dataBytes, _zeroBlocks, _fromIndex, _fromVolume, _blocksReceived, _requestedTotal;
    private int _rounds, _connections;

    public DestinationSession(DestinationOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Handshake.ValidateSecret(options.Secret);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ReadAheadBytes, nameof(options.ReadAheadBytes));
        _options = options;
        _log = logger ?? NullLogger.Instance;
        _observer = options.Observer ?? NoObserver.Instance;
        _volumeFullPath = Path.GetFullPath(options.VolumePath);
    }

    /// <summary>The bound endpoint once <see cref="Start"/> ran (port 0 in the options picks a free port).</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndpoint;

    /// <summary>Binds the listener; returns the endpoint the source must reach.</summary>
    public IPEndPoint Start()
    {
        if (_listener is null)
        {
            _listener = new TcpListener(_options.Listen);
            _listener.Start();
        }

        return LocalEndPoint!;
    }

    /// <summary>
    /// Serves connections until the migration is complete and verified (then returns the totals) or fails: a
    /// protocol violation by an authenticated source, a verification mismatch or a volume error ends it with an
    /// exception. Unauthenticated or malformed connection attempts are refused one by one and do not end it.
    /// </summary>
    public async Task<TransferResult> RunAsync(CancellationToken cancellationToken = default)
    {
        Start();
        var listener = _listener!;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var accepting = AcceptLoopAsync(listener, stop.Token);
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
            listener.Stop();
            Task[] handlers;
            lock (_handlers)
                handlers = [.. _handlers];
            await Task.WhenAll(handlers).ConfigureAwait(false);
            try
            {
                await accepting.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            SocketTuning.Apply(socket);
            var handler = HandleConnectionAsync(socket, ct);
            lock (_handlers)
            {
                _handlers.RemoveAll(t => t.IsCompleted);
                _handlers.Add(handler);
            }
        }
    }

    private async Task HandleConnectionAsync(Socket socket, CancellationToken ct)
    {
        TransferConnection? connection = null;
        HelloMessage hello;
        try
        {
            using (var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                handshakeTimeout.CancelAfter(_options.HandshakeTimeout);
                try
                {
                    connection = await TransferConnection.OpenServerAsync(new NetworkStream(socket, ownsSocket: true), _options.Tls, handshakeTimeout.Token).ConfigureAwait(false);
                    hello = await AuthenticateAsync(connection, handshakeTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new TransferException(TransferErrorCode.AuthenticationFailed, $"no authentication within {_options.HandshakeTimeout}");
                }
            }
        }
        catch (Exception e) when (e is TransferException or IOException or SocketException or ArgumentException)
        {
            _log.LogWarning("Migration {MigrationId}: refused connection from {Peer}: {Error}", _options.MigrationId, SafePeer(socket), e.Message);
            if (connection is not null && e is TransferException te)
                await connection.TrySendErrorAsync(te).ConfigureAwait(false);
            if (connection is not null)
                await connection.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();
            _observer.OnRejected(e);
            return;
        }
        catch (OperationCanceledException)
        {
            if (connection is not null)
                await connection.DisposeAsync().ConfigureAwait(false);
            else
                socket.Dispose();
            return;
        }

        // Authenticated: replace whatever connection is active, then serve this one.
        var previous = _active;
        if (previous is not null)
            await previous.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        using var mine = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _active = mine;
        try
        {
            if (ct.IsCancellationRequested || _done.Task.IsCompleted)
                return;
            _connections++;
            _clock.Start();
            if (_options.ReadAheadBytes > 0)
                connection.Reader.StartReadAhead(_options.ReadAheadBytes);
            await ServeAsync(connection, hello, mine.Token).ConfigureAwait(false);
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
            _closedConnectionBytes += connection.Bytes;
            if (ReferenceEquals(_active, mine))
                _active = null;
            await connection.DisposeAsync().ConfigureAwait(false);
            _gate.Release();
        }
    }

    private static string SafePeer(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint?.ToString() ?? "?";
        }
        catch (ObjectDisposedException)
        {
            return "?";
        }
    }

    private async Task<HelloMessage> AuthenticateAsync(TransferConnection c, CancellationToken ct)
    {
        var helloFrame = await c.ExpectAsync(MessageType.Hello, ct).ConfigureAwait(false);
        byte[] helloBytes = helloFrame.Payload.ToArray();
        var hello = HelloMessage.Parse(helloBytes);
        ushort version = Math.Min(hello.MaxVersion, ProtocolConstants.MaxVersion);
        if (version < Math.Max(hello.MinVersion, ProtocolConstants.MinVersion))
            throw new TransferException(TransferErrorCode.UnsupportedVersion,
                $"destination speaks protocol versions {ProtocolConstants.MinVersion}..{ProtocolConstants.MaxVersion}, source offers {hello.MinVersion}..{hello.MaxVersion}");
        if (hello.MigrationId != _options.MigrationId)
            throw new TransferException(TransferErrorCode.WrongMigration, $"this endpoint serves migration {_options.MigrationId}, not {hello.MigrationId}");

        var challenge = new ChallengeMessage(version, RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize));
        byte[] challengeBytes = new byte[ChallengeMessage.Size];
        challenge.Write(challengeBytes);
        await c.SendAsync(MessageType.Challenge, challengeBytes, ct).ConfigureAwait(false);

        byte[] transcript = Handshake.TranscriptHash(helloBytes, challengeBytes);
        var proofFrame = await c.ExpectAsync(MessageType.SourceProof, ct).ConfigureAwait(false);
        var proof = ProofMessage.Parse(proofFrame.Payload.Span, MessageType.SourceProof);
        if (!Handshake.Check(Handshake.Proof(_options.Secret, source: true, transcript), proof.Mac))
            throw new TransferException(TransferErrorCode.AuthenticationFailed, "the source could not prove the migration secret");
        await c.SendAsync(new ProofMessage(MessageType.DestinationProof, Handshake.Proof(_options.Secret, source: false, transcript)), ct).ConfigureAwait(false);
        return hello;
    }

    private async Task ServeAsync(TransferConnection c, HelloMessage hello, CancellationToken ct)
    {
        PrepareMigration(hello);
        var state = _state!;
        // Data may have been applied in either phase: the Resume reports exactly what is durable.
        if (state.Phase != DestinationPhase.Completed && _lastSeq != state.DurableSeq)
            Checkpoint(force: true);
        // A fresh zstd stream and a fresh list of fingerprints for repeat entries on every connection.
        _decoder?.Dispose();
        _decoder = new StreamDecompressor();
        _listed.Clear();

        await c.SendAsync(new ResumeMessage(state.Phase, state.IndexCursor, state.DurableSeq, state.Digest), ct).ConfigureAwait(false);
        _ackedSeq = state.DurableSeq;
        _observer.OnPhase(state.Phase switch
        {
            DestinationPhase.Index => TransferPhase.Index,
            DestinationPhase.Copy => TransferPhase.Copy,
            _ => TransferPhase.Completed,
        });
        if (state.Phase == DestinationPhase.Copy)
            await SendRequestsAsync(c, onlyUnrequested: false, ct).ConfigureAwait(false);

        while (true)
        {
            var frame = await c.Reader.ReadAsync(ct).ConfigureAwait(false);
            switch (frame.Type, state.Phase)
            {
                case (MessageType.IndexBatch, DestinationPhase.Index):
                    _indexBytes += frame.WireBytes;
                    ValidateIndexBatch(frame.Payload.Span);
                    // Blocks nothing here can provide are requested before the batch's local copies are made, so
                    // the link carries them while this side reads its index; the rest is requested once resolved.
                    QueueCertainMisses(frame.Payload.Span);
                    await RequestQueuedAsync(c, ct).ConfigureAwait(false);
                    ApplyIndexBatch(frame.Payload.Span);
                    await RequestQueuedAsync(c, ct).ConfigureAwait(false);
                    if (_bytesSinceCheckpoint >= _options.CheckpointBytes)
                        await CheckpointAndAckAsync(c, ct).ConfigureAwait(false);
                    break;

                case (MessageType.IndexEnd, DestinationPhase.Index):
                    _indexBytes += frame.WireBytes;
                    EndIndex(IndexEndMessage.Parse(frame.Payload.Span));
                    _observer.OnPhase(TransferPhase.Request);
                    await SendRequestsAsync(c, onlyUnrequested: true, ct).ConfigureAwait(false);
                    _observer.OnIndexResolved(new IndexReport(_geometry.BlockCount, _zeroBlocks, _fromIndex, _fromVolume, _requestedTotal, _indexBytes));
                    _observer.OnPhase(TransferPhase.Copy);
                    break;

                case (MessageType.Data, DestinationPhase.Index or DestinationPhase.Copy):
                    _dataBytes += frame.WireBytes;
                    ApplyData(frame.Payload.Span, frame.Flags);
                    await RequestQueuedAsync(c, ct).ConfigureAwait(false);
                    if (CheckpointDue())
                        await CheckpointAndAckAsync(c, ct).ConfigureAwait(false);
                    break;

                case (MessageType.RoundEnd, DestinationPhase.Copy):
                    RoundEndMessage.Parse(frame.Payload.Span);
                    _rounds++;
                    await CheckpointAndAckAsync(c, ct).ConfigureAwait(false);
                    break;

                case (MessageType.FinalEnd, DestinationPhase.Copy):
                    await FinishAsync(c, FinalEndMessage.Parse(frame.Payload.Span), ct).ConfigureAwait(false);
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

    /// <summary>Sets up (or keeps) the migration state for this source session.</summary>
    private void PrepareMigration(HelloMessage hello)
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
                $"the source's volume is {geometry.Size} bytes; this destination expects {expected}");

        if (geometry.BlockCount > Array.MaxLength)
            throw new TransferException(TransferErrorCode.VolumeMismatch, $"a volume of {geometry.BlockCount} blocks is too large; use a larger block size");

        if (_state is { } current && current.SourceSessionId == hello.SourceSessionId && current.Geometry == geometry)
            return;

        DestinationState? saved = _state;
        if (saved is null)
        {
            try
            {
                saved = DestinationState.Load(_options.EffectiveStatePath);
            }
            catch (InvalidDataException e)
            {
                _log.LogWarning("Migration {MigrationId}: ignoring state file: {Error}", _options.MigrationId, e.Message);
            }
        }

        bool sameMigration = saved is not null && saved.MigrationId == _options.MigrationId && saved.Geometry == geometry;
        _geometry = geometry;
        _zero = ZeroFingerprints.For(geometry.BlockSize);
        _block = new byte[geometry.BlockSize];
        _fingerprints = new Fingerprint[geometry.BlockCount];
        _fingerprintKnown = new BlockBitmap(geometry.BlockCount);
        _readBack = new BlockBitmap(geometry.BlockCount);
        _waiting = new BlockBitmap(geometry.BlockCount);
        _requested = new BlockBitmap(geometry.BlockCount);
        _listed.Clear();
        _toRequest.Clear();
        _waiters.Clear();
        _seen.Clear();
        bool reopened = _volume is not null;
        _volume?.Dispose();
        _volume = VolumeFile.OpenDestination(_options.VolumePath, geometry.Size);

        if (sameMigration && saved!.SourceSessionId == hello.SourceSessionId)
        {
            // Same source session after a restart of this process: continue where the state file says.
            _state = saved;
            _hint = null;
            _lastSeq = saved.DurableSeq;
            _log.LogInformation("Migration {MigrationId}: resuming from state file (phase {Phase}, {Present} blocks present)",
                _options.MigrationId, saved.Phase, saved.Presence.Count);
            return;
        }

        // A new source session: the source re-reads everything. What an earlier attempt left in the volume is only
        // a hint, trusted per block after re-hashing it.
        _hint = sameMigration && saved!.Presence.Count > 0 ? saved.Presence : null;
        _state = new DestinationState(_options.MigrationId, hello.SourceSessionId, geometry, fresh: _volume.Created && !reopened);
        _lastSeq = 0;
        // Nothing is claimed yet, so this first write needs no fsync: a torn file is ignored like a missing one.
        _state.Save(_options.EffectiveStatePath, durable: false);
        _lastCheckpointTicks = Stopwatch.GetTimestamp();
        _log.LogInformation("Migration {MigrationId}: new source session, volume {Path} of {Size} bytes ({Fresh})",
            _options.MigrationId, _options.VolumePath, geometry.Size, _state.Fresh ? "created" : "existing");
    }

    /// <summary>Checks the whole batch (every entry, every repeat's reference) before anything of it is applied.</summary>
    private void ValidateIndexBatch(ReadOnlySpan<byte> payload)
    {
        var reader = new IndexBatchReader(payload, _geometry, _state!.IndexCursor);
        int listed = _listed.Count;
        while (reader.TryRead(out var entry))
        {
            if (entry.Repeat > 0)
            {
                if (entry.Repeat > listed)
                    throw new TransferException(TransferErrorCode.OutOfRange,
                        $"IndexBatch repeat at block {entry.Block} refers to fingerprint entry -{entry.Repeat}; only {listed} were listed on this connection");
            }
            else if (!entry.Zero)
            {
                listed++;
            }
        }
    }

    /// <summary>
    /// Queues requests for the batch's blocks that <see cref="ResolveFingerprint"/> will certainly request: first
    /// listed in this batch, content not seen earlier in the volume, no hint, and no entry in the local index. Only
    /// memory is consulted, so these go out before the batch's index reads and copies.
    /// </summary>
    private void QueueCertainMisses(ReadOnlySpan<byte> payload)
    {
        var state = _state!;
        var index = _options.Index is { } i && i.BlockSize == _geometry.BlockSize ? i : null;
        _batchKeys.Clear();
        var reader = new IndexBatchReader(payload, _geometry, state.IndexCursor);
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero || entry.Repeat > 0)
                continue;
            // Content appearing twice in one batch: only its first block can be a certain miss.
            ulong key = entry.Fingerprint.Prefix64;
            if (!_batchKeys.Add(key) || _seen.ContainsKey(key) || _hint is not null && _hint.Test(entry.Block))
                continue;
            if (index is not null && index.MayContain(entry.Fingerprint))
                continue;
            if (!state.Presence.Test(entry.Block) && !_requested.Test(entry.Block))
                QueueRequest(entry.Block);
        }
    }

    private void ApplyIndexBatch(ReadOnlySpan<byte> payload)
    {
        var state = _state!;
        PrefetchFromIndex(payload, state.IndexCursor);
        var reader = new IndexBatchReader(payload, _geometry, state.IndexCursor);
        while (reader.TryRead(out var entry))
        {
            if (entry.Zero)
            {
                ApplyZeroRun(entry.Block, entry.Count);
            }
            else if (entry.Repeat > 0)
            {
                // Same content as an earlier fingerprint entry: resolved like that fingerprint (copied, or waiting for it).
                ResolveFingerprint(entry.Block, _listed[_listed.Count - (int)entry.Repeat]);
            }
            else
            {
                _listed.Add(entry.Fingerprint);
                ResolveFingerprint(entry.Block, entry.Fingerprint);
            }
        }

        state.IndexCursor = reader.Next;
    }

    private void ApplyZeroRun(long start, long count)
    {
        var presence = _state!.Presence;
        if (!_state.Fresh)
            ZeroFill(start, count);
        presence.SetRange(start, count);
        _fingerprints.AsSpan((int)start, (int)count).Fill(_zero);
        _fingerprintKnown.SetRange(start, count);
        _zeroBlocks += count;
    }

    // Makes blocks zero on a volume that may hold old data: reads first, writes only what is not zero already.
    private void ZeroFill(long start, long count)
    {
        var volume = _volume!;
        int perChunk = _raw.Length / _geometry.BlockSize;
        for (long b = start; b < start + count; b += perChunk)
        {
            long n = Math.Min(perChunk, start + count - b);
            int bytes = (int)_geometry.RunBytes(b, n);
            var chunk = _raw.AsSpan(0, bytes);
            volume.Read(chunk, _geometry.Offset(b));
            if (!ZeroBlocks.IsZero(chunk))
            {
                volume.WriteZeros(_geometry.Offset(b), bytes);
                _bytesSinceCheckpoint += bytes;
            }
        }
    }

    private void ResolveFingerprint(long block, in Fingerprint fingerprint)
    {
        var presence = _state!.Presence;
        int length = _geometry.BlockLength(block);
        ulong key = fingerprint.Prefix64;

        // Requested ahead by QueueCertainMisses: its data is on the way.
        if (_requested.Test(block))
        {
            _seen.TryAdd(key, block);
            return;
        }

        // An earlier attempt may have left exactly this block here.
        if (_hint is not null && _hint.Test(block) && ReadOwn(block, _block) == fingerprint)
        {
            MarkPresent(block, fingerprint);
            _seen.TryAdd(key, block);
            _fromVolume++;
            return;
        }

        // The same content occurs earlier in this volume: copy it, or wait for it if it is still to come.
        if (_seen.TryGetValue(key, out long first) && first != block)
        {
            if (presence.Test(first))
            {
                if (ReadOwn(first, _block) == fingerprint)
                {
                    WriteBlock(block, _block.AsSpan(0, length), fingerprint);
                    _fromVolume++;
                    return;
                }
            }
            else if (!_waiting.Test(first))
            {
                if (!_waiters.TryGetValue(first, out var list))
                    _waiters[first] = list = [];
                list.Add((block, fingerprint));
                _waiting.Set(block);
                _fromVolume++;
                return;
            }
        }

        if (TryIndex(block, fingerprint, out var found))
        {
            WriteBlock(block, found[..length], fingerprint);
            _seen.TryAdd(key, block);
            _fromIndex++;
            return;
        }

        _seen.TryAdd(key, block);
        QueueRequest(block);
    }

    /// <summary>The block from the local index: looked up ahead for this batch, or now.</summary>
    private bool TryIndex(long block, in Fingerprint fingerprint, out ReadOnlySpan<byte> data)
    {
        data = default;
        if (_options.Index is not { } index || index.BlockSize != _geometry.BlockSize)
            return false;
        while (_prefetchNext < _prefetchCount && _prefetchBlock[_prefetchNext] < block)
            _prefetchNext++;
        if (_prefetchNext < _prefetchCount && _prefetchBlock[_prefetchNext] == block && _prefetchFingerprint[_prefetchNext] == fingerprint)
        {
            int at = _prefetchNext++;
            data = _prefetchData.AsSpan(at * _geometry.BlockSize, _geometry.BlockSize);
            return _prefetchHit[at];
        }

        if (!index.TryReadVerified(fingerprint, _block))
            return false;
        data = _block;
        return true;
    }

    /// <summary>
    /// Looks the batch's fingerprints up in the local index on both cores before the batch is applied in order: the
    /// reads and hash checks of index hits are most of a batch's cost, and a miss is only known once they are done.
    /// Blocks a repeat or the volume itself may provide are looked up too (a wasted read at worst).
    /// </summary>
    private void PrefetchFromIndex(ReadOnlySpan<byte> payload, long first)
    {
        _prefetchCount = _prefetchNext = 0;
        if (_options.Index is not { } index || index.BlockSize != _geometry.BlockSize)
            return;
        // At most 8 MiB of blocks ahead (2048 blocks of 4 KiB).
        int limit = Math.Min(MaxPrefetch, (8 << 20) / _geometry.BlockSize);
        var reader = new IndexBatchReader(payload, _geometry, first);
        while (_prefetchCount < limit && reader.TryRead(out var entry))
        {
            if (entry.Zero || entry.Repeat > 0 || _seen.ContainsKey(entry.Fingerprint.Prefix64) || _hint is not null && _hint.Test(entry.Block))
                continue;
            _prefetchBlock[_prefetchCount] = entry.Block;
            _prefetchFingerprint[_prefetchCount] = entry.Fingerprint;
            _prefetchCount++;
        }

        if (_prefetchData.Length < limit * _geometry.BlockSize)
            _prefetchData = new byte[limit * _geometry.BlockSize];
        int blockSize = _geometry.BlockSize;
        Parallel.For(0, _prefetchCount, new ParallelOptions { MaxDegreeOfParallelism = 2 },
            i => _prefetchHit[i] = index.TryReadVerified(_prefetchFingerprint[i], _prefetchData.AsSpan(i * blockSize, blockSize)));
    }

    private void QueueRequest(long block)
    {
        _requested.Set(block);
        _toRequest.Add(block);
    }

    /// <summary>Reads one block of the volume zero-padded to the block size; returns its fingerprint.</summary>
    private Fingerprint ReadOwn(long block, byte[] buffer)
    {
        int length = _geometry.BlockLength(block);
        _volume!.Read(buffer.AsSpan(0, length), _geometry.Offset(block));
        buffer.AsSpan(length).Clear();
        return Fingerprint.Compute(buffer);
    }

    private void WriteBlock(long block, ReadOnlySpan<byte> data, in Fingerprint fingerprint)
    {
        WriteVolume(data, _geometry.Offset(block));
        _bytesSinceCheckpoint += data.Length;
        MarkPresent(block, fingerprint);
    }

    private void WriteVolume(ReadOnlySpan<byte> data, long offset)
    {
        _volume!.Write(data, offset);
        _options.AfterBlockWrite?.Invoke(offset, data.Length);
    }

    private void MarkPresent(long block, in Fingerprint fingerprint)
    {
        _state!.Presence.Set(block);
        _waiting.Clear(block);
        _fingerprints[block] = fingerprint;
        _fingerprintKnown.Clear(block);
        _readBack.Set(block);
    }

    private void EndIndex(IndexEndMessage end)
    {
        long blocks = end.BlockCount;
        var state = _state!;
        if (blocks != _geometry.BlockCount || state.IndexCursor != _geometry.BlockCount)
            throw new TransferException(TransferErrorCode.OutOfRange,
                $"IndexEnd after {state.IndexCursor} of {_geometry.BlockCount} blocks (source says {blocks})");
        state.Phase = DestinationPhase.Copy;
        _seen.Clear();
        _seen.TrimExcess();
        _listed.Clear();
        _listed.TrimExcess();
        _hint = null;
        Checkpoint(force: true);
    }

    /// <summary>
    /// Requests every block that is neither present nor waiting for a copy (with <paramref name="onlyUnrequested"/>:
    /// and not requested before on this connection), then RequestEnd with the totals.
    /// </summary>
    private async ValueTask SendRequestsAsync(TransferConnection c, bool onlyUnrequested, CancellationToken ct)
    {
        var presence = _state!.Presence;
        long requested = 0;
        await RequestQueuedAsync(c, ct).ConfigureAwait(false);
        var runs = new List<BlockRun>(RequestMessage.MaxRuns);
        long b = presence.NextClear(0);
        while (b < _geometry.BlockCount)
        {
            if (_waiting.Test(b) || onlyUnrequested && _requested.Test(b))
            {
                b = presence.NextClear(b + 1);
                continue;
            }

            long end = b + 1;
            while (end < _geometry.BlockCount && !presence.Test(end) && !_waiting.Test(end) && !(onlyUnrequested && _requested.Test(end)))
                end++;
            runs.Add(new BlockRun(b, end - b));
            _requested.SetRange(b, end - b);
            requested += end - b;
            if (runs.Count == RequestMessage.MaxRuns)
            {
                await SendRequestFrameAsync(c, runs, ct).ConfigureAwait(false);
                runs.Clear();
            }

            b = presence.NextClear(end);
        }

        if (runs.Count > 0)
            await SendRequestFrameAsync(c, runs, ct).ConfigureAwait(false);
        if (onlyUnrequested)
        {
            _requestedTotal += requested;
            requested = _requestedTotal;
        }

        await c.SendAsync(new RequestEndMessage(requested, _fromIndex, _fromVolume, _zeroBlocks), ct).ConfigureAwait(false);
        _log.LogInformation("Migration {MigrationId}: requested {Requested} blocks ({FromIndex} from index, {FromVolume} from the volume, {Zero} zero)",
            _options.MigrationId, requested, _fromIndex, _fromVolume, _zeroBlocks);
    }

    private static async ValueTask SendRequestFrameAsync(TransferConnection c, List<BlockRun> runs, CancellationToken ct)
    {
        int size = 4 + runs.Count * RequestMessage.RunSize;
        var span = c.Writer.GetPayloadSpan(size);
        RequestMessage.Write(span, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(runs));
        await c.Writer.CommitAsync(MessageType.Request, 0, size, ct).ConfigureAwait(false);
    }

    private void ApplyData(ReadOnlySpan<byte> payload, byte flags)
    {
        _runs.Clear();
        var body = DataMessage.Parse(payload, flags, _geometry, _runs, out long seq, out int rawLength);
        if (seq <= _lastSeq)
            throw new TransferException(TransferErrorCode.OutOfRange, $"Data sequence number {seq} is not above the last applied {_lastSeq}");
        if (_state!.Phase == DestinationPhase.Index && _runs[^1].Start + _runs[^1].Count > _state.IndexCursor)
            throw new TransferException(TransferErrorCode.UnexpectedMessage,
                $"Data for blocks up to {_runs[^1].Start + _runs[^1].Count} before the index reached them (cursor {_state.IndexCursor}): nothing there was requested yet");
        ReadOnlySpan<byte> raw;
        if ((flags & ProtocolConstants.FlagCompressed) != 0)
        {
            _decoder!.Decompress(body, _raw.AsSpan(0, rawLength));
            raw = _raw.AsSpan(0, rawLength);
        }
        else
        {
            raw = body;
        }

        // Everything is validated; from here on the frame is applied.
        var volume = _volume!;
        int position = 0;
        foreach (var run in _runs)
        {
            long bytes = _geometry.RunBytes(run.Start, run.Count);
            if (run.Zero)
            {
                volume.WriteZeros(_geometry.Offset(run.Start), bytes);
                for (long b = run.Start; b < run.Start + run.Count; b++)
                {
                    MarkPresent(b, _zero);
                    ResolveWaiters(b, _zero, ReadOnlySpan<byte>.Empty);
                }
            }
            else
            {
                var data = raw.Slice(position, (int)bytes);
                WriteVolume(data, _geometry.Offset(run.Start));
                int at = 0;
                for (long b = run.Start; b < run.Start + run.Count; b++)
                {
                    int length = _geometry.BlockLength(b);
                    var blockData = data.Slice(at, length);
                    Fingerprint fingerprint;
                    if (length == _geometry.BlockSize)
                    {
                        fingerprint = Fingerprint.Compute(blockData);
                    }
                    else
                    {
                        blockData.CopyTo(_block);
                        _block.AsSpan(length).Clear();
                        fingerprint = Fingerprint.Compute(_block);
                    }

                    MarkPresent(b, fingerprint);
                    _options.Index?.Add(fingerprint, _volumeFullPath, b);
                    ResolveWaiters(b, fingerprint, blockData);
                    at += length;
                }

                position += (int)bytes;
            }

            _blocksReceived += run.Count;
            _bytesSinceCheckpoint += bytes;
        }

        _lastSeq = seq;
    }

    /// <summary>Block <paramref name="block"/> arrived: fill the blocks that waited for its content.</summary>
    private void ResolveWaiters(long block, in Fingerprint fingerprint, ReadOnlySpan<byte> data)
    {
        if (_waiters.Count == 0 || !_waiters.Remove(block, out var list))
            return;
        foreach (var (waiter, expected) in list)
        {
            if (!_waiting.Test(waiter))
                continue; // it arrived by itself meanwhile
            if (expected == fingerprint)
            {
                // The source block changed since the index phase would show as a different fingerprint.
                if (data.IsEmpty)
                    _volume!.WriteZeros(_geometry.Offset(waiter), _geometry.BlockLength(waiter));
                else
                    WriteVolume(data[.._geometry.BlockLength(waiter)], _geometry.Offset(waiter));
                MarkPresent(waiter, fingerprint);
            }
            else
            {
                _waiting.Clear(waiter);
                QueueRequest(waiter);
            }
        }
    }

    /// <summary>Sends the requests queued since the last call (index misses, waiters whose block changed).</summary>
    private async ValueTask RequestQueuedAsync(TransferConnection c, CancellationToken ct)
    {
        if (_toRequest.Count == 0)
            return;
        _requestedTotal += _toRequest.Count;
        _toRequest.Sort();
        var runs = new List<BlockRun>();
        foreach (long b in _toRequest)
        {
            if (runs.Count > 0 && runs[^1].End == b)
                runs[^1] = runs[^1] with { Count = runs[^1].Count + 1 };
            else
                runs.Add(new BlockRun(b, 1));
        }

        _toRequest.Clear();
        for (int i = 0; i < runs.Count; i += RequestMessage.MaxRuns)
            await SendRequestFrameAsync(c, runs.GetRange(i, Math.Min(RequestMessage.MaxRuns, runs.Count - i)), ct).ConfigureAwait(false);
    }

    private bool CheckpointDue() =>
        _bytesSinceCheckpoint >= _options.CheckpointBytes ||
        Stopwatch.GetElapsedTime(_lastCheckpointTicks) >= _options.CheckpointInterval;

    /// <summary>Flushes the volume, then records progress in the state file (in that order: the file never claims unflushed data).</summary>
    private void Checkpoint(bool force)
    {
        if (!force && !CheckpointDue())
            return;
        _volume!.Flush();
        ReadBackWritten();
        var state = _state!;
        state.DurableSeq = _lastSeq;
        state.Save(_options.EffectiveStatePath);
        _bytesSinceCheckpoint = 0;
        _lastCheckpointTicks = Stopwatch.GetTimestamp();
    }

    private async ValueTask CheckpointAndAckAsync(TransferConnection c, CancellationToken ct)
    {
        Checkpoint(force: true);
        if (_lastSeq > _ackedSeq)
        {
            await c.SendAsync(new AckMessage(_lastSeq), ct).ConfigureAwait(false);
            _ackedSeq = _lastSeq;
        }
    }

    private async ValueTask FinishAsync(TransferConnection c, FinalEndMessage end, CancellationToken ct)
    {
        (long lastSeq, byte[] sourceDigest) = end;
        if (lastSeq != _lastSeq)
            throw new TransferException(TransferErrorCode.OutOfRange, $"source ended at Data sequence {lastSeq}, destination applied up to {_lastSeq}");

        var state = _state!;
        if (state.Presence.Count < _geometry.BlockCount)
        {
            // Blocks are still missing (requests crossed the final round): ask again; the source answers with another final round.
            await SendRequestsAsync(c, onlyUnrequested: false, ct).ConfigureAwait(false);
            return;
        }

        _observer.OnPhase(TransferPhase.Final);
        // One flush and one state write: the state claims completion only after the volume is on stable storage.
        _volume!.Flush();
        byte[] digest = ComputeDigest();
        state.DurableSeq = _lastSeq;
        if (!CryptographicOperations.FixedTimeEquals(digest, sourceDigest))
        {
            state.Save(_options.EffectiveStatePath);
            throw new TransferException(TransferErrorCode.VerificationFailed,
                $"destination volume digest {Convert.ToHexStringLower(digest)} differs from the source's {Convert.ToHexStringLower(sourceDigest)}");
        }

        _rounds++;
        state.Phase = DestinationPhase.Completed;
        state.Digest = digest;
        state.Save(_options.EffectiveStatePath);
        await c.SendAsync(new CompleteMessage(digest), ct).ConfigureAwait(false);
        _log.LogInformation("Migration {MigrationId}: volume verified ({Digest})", _options.MigrationId, Convert.ToHexStringLower(digest));
        _completed.TrySetResult();
    }

    /// <summary>
    /// Reads back the blocks written since the last call and checks each against the fingerprint it was written
    /// for: a block that differs is a bug or a failing disk, and the migration must not go on as if it were there.
    /// </summary>
    private void ReadBackWritten()
    {
        int perChunk = _raw.Length / _geometry.BlockSize;
        for (long b = _readBack.NextSet(0); b >= 0 && b < _geometry.BlockCount; b = _readBack.NextSet(b))
        {
            long end = _readBack.NextClear(b);
            if (end < 0 || end > _geometry.BlockCount)
                end = _geometry.BlockCount;
            for (long at = b; at < end; at += perChunk)
            {
                long n = Math.Min(perChunk, end - at);
                _volume!.Read(_raw.AsSpan(0, (int)_geometry.RunBytes(at, n)), _geometry.Offset(at));
                for (long i = 0; i < n; i++)
                {
                    long block = at + i;
                    var onDisk = FingerprintOf(block, _raw.AsSpan((int)(i * _geometry.BlockSize), _geometry.BlockLength(block)));
                    if (onDisk != _fingerprints[block])
                        throw new TransferException(TransferErrorCode.VerificationFailed,
                            $"block {block} read back from the destination volume differs from what was written there");
                    _fingerprintKnown.Set(block);
                }
            }

            _readBack.ClearRange(b, end - b);
            b = end;
        }
    }

    /// <summary>Fingerprints of every block (re-read where unknown, or all with VerifyByReading), hashed in order.</summary>
    private byte[] ComputeDigest()
    {
        ReadBackWritten();
        if (!_options.VerifyByReading && _fingerprintKnown.Count == _geometry.BlockCount)
            return VolumeDigest.Compute(_geometry, _fingerprints);

        int perChunk = _raw.Length / _geometry.BlockSize;
        for (long b = 0; b < _geometry.BlockCount; b += perChunk)
        {
            long n = Math.Min(perChunk, _geometry.BlockCount - b);
            bool needed = _options.VerifyByReading;
            for (long i = b; !needed && i < b + n; i++)
                needed = !_fingerprintKnown.Test(i);
            if (!needed)
                continue;
            _volume!.Read(_raw.AsSpan(0, (int)_geometry.RunBytes(b, n)), _geometry.Offset(b));
            for (long i = 0; i < n; i++)
            {
                long block = b + i;
                _fingerprints[block] = FingerprintOf(block, _raw.AsSpan((int)(i * _geometry.BlockSize), _geometry.BlockLength(block)));
                _fingerprintKnown.Set(block);
            }
        }

        return VolumeDigest.Compute(_geometry, _fingerprints);
    }

    /// <summary>A block's fingerprint from its bytes; a final partial block is fingerprinted zero-padded.</summary>
    private Fingerprint FingerprintOf(long block, ReadOnlySpan<byte> data)
    {
        if (data.Length == _geometry.BlockSize)
            return Fingerprint.Compute(data);
        data.CopyTo(_block);
        _block.AsSpan(data.Length).Clear();
        return Fingerprint.Compute(_block);
    }

    private TransferResult Result(long currentConnectionBytes)
    {
        var state = _state;
        return new TransferResult(
            BytesOnWire: _closedConnectionBytes + currentConnectionBytes,
            IndexBytes: _indexBytes,
            DataBytes: _dataBytes,
            Blocks: _geometry.BlockCount,
            ZeroBlocks: _zeroBlocks,
            BlocksFromIndex: _fromIndex,
            BlocksFromVolume: _fromVolume,
            BlocksSent: _blocksReceived,
            Rounds: _rounds,
            Seconds: _clock.Elapsed.TotalSeconds,
            Verified: state?.Phase == DestinationPhase.Completed,
            Reconnects: Math.Max(0, _connections - 1),
            VolumeDigest: state?.Digest ?? []);
    }

    public async ValueTask DisposeAsync()
    {
        _listener?.Stop();
        if (_active is { } active)
            await active.CancelAsync().ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _volume?.Dispose();
            _volume = null;
            _decoder?.Dispose();
            _decoder = null;
        }
        finally
        {
            _gate.Release();
        }
    }
}
