using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text.Json;
using Teleport.Host.Worker;

namespace Teleport.Host.Hypervisor;

/// <summary>
/// A QEMU Machine Protocol client over a Unix socket: greeting check, capabilities negotiation, commands
/// matched to replies by id, asynchronous events. Every command has a timeout; when the socket closes
/// (QEMU exited or was killed) every pending and later call fails with <see cref="QmpConnectionException"/>.
/// </summary>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly QmpOptions _options;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<long, (string Command, TaskCompletionSource<JsonElement> Reply)> _pending = [];
    private readonly List<(string Name, TaskCompletionSource<QmpEvent> Waiter)> _eventWaiters = [];
    private readonly CancellationTokenSource _closing = new();
    private Task _readLoop = Task.CompletedTask;
    private long _nextId;
    private Exception? _failure;

    private QmpClient(Socket socket, QmpOptions options)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        _options = options;
    }

    /// <summary>Raised on the reader task for every event QEMU sends.</summary>
    public event Action<QmpEvent>? EventReceived;

    /// <summary>QEMU's version from the greeting, e.g. "7.2.19".</summary>
    public string QemuVersion { get; private set; } = "";

    /// <summary>Connects, checks the greeting and leaves capabilities negotiation mode.</summary>
    /// <exception cref="QmpConnectionException">Nothing listens, no greeting in time, or not QMP.</exception>
    public static async Task<QmpClient> ConnectAsync(string socketPath, QmpOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        options ??= new QmpOptions();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        QmpClient? client = null;
        try
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            client = new QmpClient(socket, options);
            using var greeting = await client.ReadGreetingAsync(timeout.Token).ConfigureAwait(false);
            client.QemuVersion = ReadVersion(greeting.RootElement);
            client._readLoop = Task.Run(client.ReadLoopAsync, CancellationToken.None);
            await client.ExecuteAsync("qmp_capabilities", null, options.ConnectTimeout, timeout.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception e)
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            throw e switch
            {
                QmpConnectionException or QmpException => e,
                OperationCanceledException or TimeoutException => new QmpConnectionException($"No QMP greeting/negotiation on '{socketPath}' within {options.ConnectTimeout.TotalSeconds:0.#} s.", e),
                _ => new QmpConnectionException($"Cannot open QMP socket '{socketPath}': {e.Message}", e),
            };
        }
    }

    /// <summary>Runs a command and returns its "return" value (detached from the parser).</summary>
    /// <exception cref="QmpException">QEMU answered with an error.</exception>
    /// <exception cref="TimeoutException">No answer within <see cref="QmpOptions.CommandTimeout"/>.</exception>
    /// <exception cref="QmpConnectionException">The connection is gone.</exception>
    public Task<JsonElement> ExecuteAsync(string command, IReadOnlyDictionary<string, object?>? arguments = null, CancellationToken cancellationToken = default) =>
        ExecuteAsync(command, arguments, _options.CommandTimeout, cancellationToken);

    /// <summary>
    /// Returns a task that completes with the next event named <paramref name="name"/>. Register before
    /// running the command that causes it.
    /// </summary>
    public Task<QmpEvent> WaitForEventAsync(string name, CancellationToken cancellationToken = default)
    {
        var waiter = new TaskCompletionSource<QmpEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_failure is not null)
            {
                return Task.FromException<QmpEvent>(_failure);
            }

            _eventWaiters.Add((name, waiter));
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() =>
            {
                lock (_lock)
                {
                    _eventWaiters.RemoveAll(w => w.Waiter == waiter);
                }

                waiter.TrySetCanceled(cancellationToken);
            });
            waiter.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return waiter.Task;
    }

    private async Task<JsonElement> ExecuteAsync(string command, IReadOnlyDictionary<string, object?>? arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(command);
        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        long id;
        lock (_lock)
        {
            if (_failure is not null)
            {
                throw new QmpConnectionException(_failure.Message, _failure);
            }

            id = ++_nextId;
            _pending.Add(id, (command, reply));
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        long started = Stopwatch.GetTimestamp();
        string? error = null;
        try
        {
            await SendAsync(command, arguments, id, deadline.Token).ConfigureAwait(false);
            return await reply.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            error = nameof(TimeoutException);
            throw new TimeoutException($"QMP command '{command}' got no answer within {timeout.TotalSeconds:0.###} s.");
        }
        catch (Exception e)
        {
            error = e.GetType().Name;
            throw;
        }
        finally
        {
            lock (_lock)
            {
                _pending.Remove(id);
            }

            HostWorkerMetrics.QmpCommand(command, started, error);
        }
    }

    private async Task SendAsync(string command, IReadOnlyDictionary<string, object?>? arguments, long id, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("execute", command);
            if (arguments is not null)
            {
                writer.WritePropertyName("arguments");
                JsonSerializer.Serialize(writer, arguments);
            }

            writer.WriteNumber("id", id);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            var failure = Fail(new QmpConnectionException("QMP socket closed: QEMU is gone.", e));
            throw new QmpConnectionException(failure.Message, e);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private async Task<JsonDocument> ReadGreetingAsync(CancellationToken cancellationToken)
    {
        var message = await ReadMessageAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new QmpConnectionException("The QMP socket closed before the greeting.");
        if (message.RootElement.ValueKind != JsonValueKind.Object || !message.RootElement.TryGetProperty("QMP", out _))
        {
            message.Dispose();
            throw new QmpConnectionException("The socket's first message is not a QMP greeting.");
        }

        return message;
    }

    private static string ReadVersion(JsonElement greeting)
    {
        if (greeting.GetProperty("QMP").TryGetProperty("version", out var version)
            && version.TryGetProperty("qemu", out var qemu)
            && qemu.TryGetProperty("major", out var major) && major.ValueKind == JsonValueKind.Number
            && qemu.TryGetProperty("minor", out var minor) && minor.ValueKind == JsonValueKind.Number
            && qemu.TryGetProperty("micro", out var micro) && micro.ValueKind == JsonValueKind.Number)
        {
            return $"{major.GetInt32()}.{minor.GetInt32()}.{micro.GetInt32()}";
        }

        return "unknown";
    }

    /// <summary>Reads one newline-terminated JSON message; null at end of stream.</summary>
    private async Task<JsonDocument?> ReadMessageAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = read.Buffer;
            var newline = buffer.PositionOf((byte)'\n');
            if (newline is not null)
            {
                var line = buffer.Slice(0, newline.Value);
                try
                {
                    if (line.Length > _options.MaxMessageLength)
                    {
                        throw new QmpConnectionException($"QMP message of {line.Length} bytes exceeds the {_options.MaxMessageLength}-byte limit.");
                    }

                    return JsonDocument.Parse(line);
                }
                catch (JsonException e)
                {
                    throw new QmpConnectionException("QEMU sent a message that is not JSON.", e);
                }
                finally
                {
                    _reader.AdvanceTo(buffer.GetPosition(1, newline.Value));
                }
            }

            if (buffer.Length > _options.MaxMessageLength)
            {
                throw new QmpConnectionException($"QMP message exceeds the {_options.MaxMessageLength}-byte limit.");
            }

            if (read.IsCompleted)
            {
                return null;
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? cause = null;
        try
        {
            while (true)
            {
                using var message = await ReadMessageAsync(_closing.Token).ConfigureAwait(false);
                if (message is null)
                {
                    break;
                }

                Dispatch(message.RootElement);
            }
        }
        catch (Exception e)
        {
            cause = e;
        }

        Fail(cause as QmpConnectionException ?? new QmpConnectionException("QMP socket closed: QEMU is gone.", cause));
    }

    private void Dispatch(JsonElement message)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw new QmpConnectionException("QEMU sent a QMP message that is not an object.");
        }

        if (message.TryGetProperty("event", out var name) && name.ValueKind == JsonValueKind.String)
        {
            RaiseEvent(ParseEvent(name.GetString()!, message));
            return;
        }

        bool isReturn = message.TryGetProperty("return", out var value);
        bool isError = message.TryGetProperty("error", out var error);
        if (!isReturn && !isError)
        {
            throw new QmpConnectionException("QEMU sent a QMP message that is neither a reply nor an event.");
        }

        if (!message.TryGetProperty("id", out var idElement) || !idElement.TryGetInt64(out long id))
        {
            // Replies to commands we did not send (no id) belong to nobody; QEMU sends none of them.
            return;
        }

        (string Command, TaskCompletionSource<JsonElement> Reply) pending;
        lock (_lock)
        {
            if (!_pending.Remove(id, out pending))
            {
                return; // Timed out and abandoned by its caller.
            }
        }

        var reply = pending.Reply;

        if (isReturn)
        {
            reply.TrySetResult(value.Clone());
        }
        else
        {
            string errorClass = error.TryGetProperty("class", out var c) ? c.GetString() ?? "" : "";
            string description = error.TryGetProperty("desc", out var d) ? d.GetString() ?? "" : "";
            reply.TrySetException(new QmpException(pending.Command, errorClass, description));
        }
    }

    private static QmpEvent ParseEvent(string name, JsonElement message)
    {
        var at = DateTimeOffset.UtcNow;
        if (message.TryGetProperty("timestamp", out var ts)
            && ts.TryGetProperty("seconds", out var s) && s.TryGetInt64(out long seconds)
            && ts.TryGetProperty("microseconds", out var us) && us.TryGetInt64(out long micros)
            && seconds >= 0 && micros is >= 0 and < 1_000_000)
        {
            at = DateTimeOffset.FromUnixTimeSeconds(seconds).AddTicks(micros * 10);
        }

        JsonElement? data = message.TryGetProperty("data", out var d) ? d.Clone() : null;
        return new QmpEvent(name, at, data);
    }

    private void RaiseEvent(QmpEvent e)
    {
        List<TaskCompletionSource<QmpEvent>> matched = [];
        lock (_lock)
        {
            for (int i = _eventWaiters.Count - 1; i >= 0; i--)
            {
                if (_eventWaiters[i].Name == e.Name)
                {
                    matched.Add(_eventWaiters[i].Waiter);
                    _eventWaiters.RemoveAt(i);
                }
            }
        }

        foreach (var waiter in matched)
        {
            waiter.TrySetResult(e);
        }

        try
        {
            EventReceived?.Invoke(e);
        }
        catch (Exception)
        {
            // A failing subscriber must not take the QMP connection down with it.
        }
    }

    private Exception Fail(Exception failure)
    {
        List<TaskCompletionSource<JsonElement>> pending;
        List<TaskCompletionSource<QmpEvent>> waiters;
        lock (_lock)
        {
            if (_failure is not null)
            {
                return _failure;
            }

            _failure = failure;
            pending = [.. _pending.Values.Select(p => p.Reply)];
            _pending.Clear();
            waiters = [.. _eventWaiters.Select(w => w.Waiter)];
            _eventWaiters.Clear();
        }

        foreach (var reply in pending)
        {
            reply.TrySetException(new QmpConnectionException(failure.Message, failure));
        }

        foreach (var waiter in waiters)
        {
            waiter.TrySetException(new QmpConnectionException(failure.Message, failure));
        }

        return failure;
    }

    public async ValueTask DisposeAsync()
    {
        Fail(new QmpConnectionException("The QMP client was disposed."));
        await _closing.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        try
        {
            await _readLoop.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The loop only ends by failing; that failure is already recorded.
        }

        await _reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        _closing.Dispose();
        _sendLock.Dispose();
    }
}
