using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// A "QEMU" on a Unix socket that greets, then answers each command with the lines a script gives for its name (events
/// before the reply, as QEMU sends them), and records the commands it received: what real QEMU will not do on demand
/// (answer 'stop' without stopping, say).
/// </summary>
internal sealed class ScriptedQmpServer : QmpSocketServer
{
    private const string Greeting = """{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}""";
    private readonly Func<string, (string[] Events, string? Return)> _script;

    /// <param name="script">For a command name: the event lines to send before its reply, and the reply's "return" value (null: {}).</param>
    public ScriptedQmpServer(string path, Func<string, (string[] Events, string? Return)> script)
        : base(path)
    {
        _script = script;
        Start();
    }

    /// <summary>The commands received, in order (qmp_capabilities included).</summary>
    public ConcurrentQueue<string> Commands { get; } = new();

    /// <summary>A STOP or RESUME event line, as QEMU 7.2 sends it.</summary>
    public static string Event(string name) =>
        $$"""{"timestamp": {"seconds": {{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}}, "microseconds": 0}, "event": "{{name}}"}""";

    /// <summary>A query-status answer.</summary>
    public static string Status(bool running, string state) => $$"""{"running": {{(running ? "true" : "false")}}, "singlestep": false, "status": "{{state}}"}""";

    protected override async Task ServeAsync(Socket client, CancellationToken stop)
    {
        await using var stream = new NetworkStream(client);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { NewLine = "\r\n", AutoFlush = true };
        await writer.WriteLineAsync(Greeting);
        while (await reader.ReadLineAsync(stop) is { } line)
        {
            using var command = JsonDocument.Parse(line);
            string name = command.RootElement.GetProperty("execute").GetString()!;
            long id = command.RootElement.GetProperty("id").GetInt64();
            Commands.Enqueue(name);
            var (events, value) = name == "qmp_capabilities" ? ([], null) : _script(name);
            foreach (string e in events)
                await writer.WriteLineAsync(e);
            await writer.WriteLineAsync($$"""{"return": {{value ?? "{}"}}, "id": {{id}}}""");
        }
    }
}
