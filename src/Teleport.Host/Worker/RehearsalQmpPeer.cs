using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Teleport.Host.Worker;

/// <summary>
/// A scripted QMP peer on a private unix socket for <see cref="CutOverRehearsal"/>: it speaks just enough of QEMU's
/// protocol (greeting, qmp_capabilities, stop and cont each preceded by their STOP/RESUME event, query-status) for the
/// host's real QMP client to run a cut-over against it. No VM stands behind it.
/// </summary>
internal sealed class RehearsalQmpPeer : IAsyncDisposable
{
    private static readonly byte[] Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 0}, "package": "teleport-rehearsal"}, "capabilities": []}}"""u8.ToArray();
    private readonly Socket _listener;
    private readonly RehearsalScript _script;
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _serving;
    private bool _running = true;

    public RehearsalQmpPeer(string socketPath, RehearsalScript script)
    {
        _script = script;
        SocketPath = socketPath;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(1);
        _serving = Task.Run(() => ServeAsync(_closing.Token), CancellationToken.None);
    }

    public string SocketPath { get; }

    // One client at a time, as QEMU takes them.
    private async Task ServeAsync(CancellationToken closing)
    {
        while (!closing.IsCancellationRequested)
        {
            try
            {
                using var client = await _listener.AcceptAsync(closing).ConfigureAwait(false);
                await using var stream = new NetworkStream(client, ownsSocket: false);
                await AnswerAsync(stream, closing).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException or JsonException)
            {
                if (closing.IsCancellationRequested)
                    return;
            }
        }
    }

    private async Task AnswerAsync(NetworkStream stream, CancellationToken closing)
    {
        await WriteAsync(stream, Greeting, closing).ConfigureAwait(false);
        using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
        while (await reader.ReadLineAsync(closing).ConfigureAwait(false) is { } line)
        {
            using var command = JsonDocument.Parse(line);
            string name = command.RootElement.GetProperty("execute").GetString() ?? "";
            long id = command.RootElement.TryGetProperty("id", out var given) ? given.GetInt64() : 0;
            if (name == _script.Withhold)
                continue;
            if (name == _script.Refuse)
            {
                await WriteAsync(stream, Encoding.UTF8.GetBytes($$"""{"error": {"class": "GenericError", "desc": "refused by the rehearsal's script"}, "id": {{id}}}"""), closing).ConfigureAwait(false);
                continue;
            }

            await WriteAsync(stream, Encoding.UTF8.GetBytes(Answer(name, id)), closing).ConfigureAwait(false);
        }
    }

    private string Answer(string command, long id)
    {
        string Event(string name) => $$$"""{"event": "{{{name}}}", "timestamp": {"seconds": {{{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}}}, "microseconds": 0}}""" + "\n";
        switch (command)
        {
            case "stop":
                _running = false;
                return Event("STOP") + $$"""{"return": {}, "id": {{id}}}""";
            case "cont":
                _running = true;
                return Event("RESUME") + $$"""{"return": {}, "id": {{id}}}""";
            case "query-status":
                return $$"""{"return": {"running": {{(_running ? "true" : "false")}}, "status": "{{(_running ? "running" : "paused")}}"}, "id": {{id}}}""";
            default:
                return $$"""{"return": {}, "id": {{id}}}""";
        }
    }

    private static async Task WriteAsync(NetworkStream stream, byte[] message, CancellationToken closing)
    {
        await stream.WriteAsync(message, closing).ConfigureAwait(false);
        await stream.WriteAsync("\n"u8.ToArray(), closing).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _serving.ConfigureAwait(false);
        _closing.Dispose();
    }
}
