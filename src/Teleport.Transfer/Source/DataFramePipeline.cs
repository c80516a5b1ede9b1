using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// Turns pending blocks into Data frames on the wire. Two frames: the next is read, hashed and compressed on a pool
/// thread while the current one is paced onto the link, so compression and the link overlap instead of adding up.
/// Every frame continues the connection's zstd stream at the level the controller picks from how the two overlapped.
/// </summary>
internal sealed class DataFramePipeline : IDisposable
{
    private readonly FrameBuilder _builder;
    private readonly PendingBlocks _pending;
    private readonly InFlightWindow _window;
    private readonly CompressionLevelController _levels;
    private readonly TokenBucket? _pacer;
    private readonly long _maxUnackedBytes;
    private readonly int _maxFrameBytes;
    private readonly int _windowLog;
    private readonly ILogger _log;
    private readonly Guid _migrationId;
    private readonly PreparedFrame[] _frames = [new(), new()];
    private int _nextFrame;
    private StreamCompressor? _stream;
    private Task<PreparedFrame?>? _lookahead;
    private Socket? _socket;

    public DataFramePipeline(FrameBuilder builder, PendingBlocks pending, InFlightWindow window, CompressionLevelController levels,
        TokenBucket? pacer, SourceOptions options, long volumeBytes, ILogger log)
    {
        _builder = builder;
        _pending = pending;
        _window = window;
        _levels = levels;
        _pacer = pacer;
        _maxUnackedBytes = options.MaxUnackedBytes;
        _maxFrameBytes = MaxFrameBytes(pacer);
        _windowLog = StreamCompressor.WindowLogFor(volumeBytes, options.MaxCompressionWindowLog);
        _migrationId = options.MigrationId;
        _log = log;
    }

    /// <summary>Data frame bytes put on the wire.</summary>
    public long Bytes { get; private set; }

    /// <summary>Blocks sent in Data frames, and how many of them were zero.</summary>
    public long BlocksSent { get; private set; }

    public long ZeroBlocksSent { get; private set; }

    /// <summary>The sequence number of the last frame sent.</summary>
    public long LastSeq => _window.LastSeq;

    /// <summary>The kernel's smoothed round trip of the current connection (null off Linux or before one).</summary>
    public TimeSpan? RoundTrip => _socket is not null && TcpPathInfo.TryRead(_socket, out var path) ? path.RoundTrip : null;

    /// <summary>
    /// A new connection starts a fresh zstd stream (the destination starts a fresh decoder): frames lost with the old
    /// connection are re-read and re-compressed, so neither side needs the other's history.
    /// </summary>
    public void BeginConnection(Socket? socket)
    {
        _socket = socket;
        _stream?.Dispose();
        _stream = _levels.Level != 0 ? new StreamCompressor(_levels.Level, _windowLog) : null;
    }

    /// <summary>
    /// Sends pending blocks as Data frames (at most <paramref name="maxFrames"/>; by default until nothing is pending),
    /// back to back: acknowledgements come back asynchronously. Once <paramref name="stop"/> has completed no further
    /// frame is started and false is returned; the frame built ahead is then still owed (<see cref="SendBuiltAsync"/>).
    /// </summary>
    public async Task<bool> SendPendingAsync(TransferConnection c, CancellationToken ct, int maxFrames = int.MaxValue, Task? stop = null)
    {
        for (int frames = 0; frames < maxFrames; frames++)
        {
            if (stop is { IsCompleted: true })
                return false;
            await _window.WaitForRoomAsync(_maxUnackedBytes, ct).ConfigureAwait(false);
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
                return true;
            double starved = StarvedSeconds(starvedFrom, busyLink);
            // The next frame is built while this one goes out; when the caller stops here (between index batches) it
            // keeps building alongside the index scan. It already advanced the zstd stream: it is the next one sent.
            _lookahead = Task.Run(Prepare, ct);
            await SendFrameAsync(c, frame, starved, ct).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>
    /// Sends the frame built ahead, if any, and builds no other. A stopped round ends here: that frame already advanced the
    /// zstd stream, so it must be the next one sent, and its blocks were read before the pause.
    /// </summary>
    public async Task SendBuiltAsync(TransferConnection c, CancellationToken ct)
    {
        if (_lookahead is not { } ahead)
            return;
        await _window.WaitForRoomAsync(_maxUnackedBytes, ct).ConfigureAwait(false);
        _lookahead = null;
        if (await ahead.ConfigureAwait(false) is { } frame)
            await SendFrameAsync(c, frame, 0, ct).ConfigureAwait(false);
    }

    /// <summary>How long the link sat idle waiting for a frame.</summary>
    private double StarvedSeconds(long from, double busyLink)
    {
        double starved = Math.Max(0, Stopwatch.GetElapsedTime(from).TotalSeconds - busyLink);
        // Unpaced, the socket buffer hides the link: if the kernel still has data to put out, the link did not wait.
        if (_pacer is null && starved > 0 && _socket is not null && TcpPathInfo.TryRead(_socket, out var tcp) && tcp.LinkBusy)
            starved = 0;
        return starved;
    }

    private async Task SendFrameAsync(TransferConnection c, PreparedFrame frame, double starvedSeconds, CancellationToken ct)
    {
        var runs = frame.Runs.AsSpan(0, frame.RunCount).ToArray();
        long seq = _window.Add(runs, frame.CoveredBytes);
        var body = frame.Body;
        int header = DataMessage.HeaderSize(runs.Length);
        var span = c.Writer.GetPayloadSpan(header + body.Length);
        DataMessage.WriteHeader(span, seq, runs, frame.RawLength);
        body.CopyTo(span[header..]);
        long waitStart = Stopwatch.GetTimestamp();
        long before = c.Writer.BytesWritten;
        await c.Writer.CommitAsync(MessageType.Data, frame.Flags, header + body.Length, ct).ConfigureAwait(false);
        Bytes += c.Writer.BytesWritten - before;
        BlocksSent += frame.Blocks;
        ZeroBlocksSent += frame.ZeroBlocks;
        if ((frame.Flags & ProtocolConstants.FlagCompressed) != 0 &&
            _levels.Record(frame.BusySeconds, Stopwatch.GetElapsedTime(waitStart).TotalSeconds, starvedSeconds))
            _log.LogDebug("Migration {MigrationId}: zstd level {Level}", _migrationId, _levels.Level);
    }

    /// <summary>
    /// About 100 ms of the paced rate (1 MiB at 100 Mbit/s and above): a fenced pause, and a stopped round, wait behind the
    /// frame on the link and the one built ahead, which must not take seconds on a slow link.
    /// </summary>
    internal static int MaxFrameBytes(TokenBucket? pacer) =>
        pacer is null ? ProtocolConstants.MaxBatchBytes : (int)Math.Clamp(pacer.BytesPerSecond / 10, MinFrameBytes, ProtocolConstants.MaxBatchBytes);

    private const int MinFrameBytes = 16 * 1024;

    /// <summary>Builds the next frame from pending blocks into a free buffer; null when nothing is pending.</summary>
    private PreparedFrame? Prepare()
    {
        long started = Stopwatch.GetTimestamp();
        var frame = _frames[_nextFrame];
        _builder.Fill(frame, _maxFrameBytes);
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
    public async Task ReturnUnsentAsync()
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

        if (frame is not null)
            _pending.Add(frame.Runs.AsSpan(0, frame.RunCount));
    }

    public void Dispose() => _stream?.Dispose();
}
