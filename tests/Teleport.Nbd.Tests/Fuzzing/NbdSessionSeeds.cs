using System.Net;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests.Fuzzing;

/// <summary>
/// A server to fuzz (logs captured) and the client-side bytes of real sessions with it, recorded through a proxy:
/// qemu-io writing, zeroing, discarding, flushing and reading; our client listing exports and reading and writing.
/// </summary>
public sealed class NbdSessionSeeds : IAsyncLifetime
{
    public const string Export = "disk";

    private readonly string _directory = Directory.CreateTempSubdirectory("teleport-nbd-fuzz-").FullName;
    private readonly ILoggerFactory _loggers;
    private FileNbdExport? _export;

    public NbdSessionSeeds()
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Debug));
        Server = new NbdServer(Registry, new NbdServerOptions { HandshakeTimeout = TimeSpan.FromSeconds(5) }, _loggers.CreateLogger<NbdServer>());
    }

    public CapturedLogs Logs { get; } = new();

    public NbdExportRegistry Registry { get; } = new();

    public NbdServer Server { get; }

    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>What real clients sent, one array per connection.</summary>
    public IReadOnlyList<byte[]> ClientBytes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        string path = Path.Combine(_directory, Export + ".img");
        using (var file = File.Create(path))
            file.SetLength(4 << 20);
        _export = new FileNbdExport(Export, path, readOnly: false, dirtyTracker: null, "fuzzed");
        Registry.Add(_export);
        EndPoint = (IPEndPoint)Server.Listen(new IPEndPoint(IPAddress.Loopback, 0));

        await using (var proxy = RecordingProxy.Start(EndPoint))
        {
            string url = $"nbd://127.0.0.1:{proxy.EndPoint.Port}/{Export}";
            await QemuTools.QemuIoAsync(url, "write -P 0x42 0 64k", "write -z 64k 64k", "discard 128k 64k", "flush", "read -P 0x42 0 64k", "read -P 0 64k 64k");
            await NbdClient.ListExportsAsync(proxy.EndPoint);
            await using (var client = await NbdClient.ConnectAsync(proxy.EndPoint, Export))
            {
                await client.WriteAsync(8192, new byte[4096].AsMemory(), fua: true);
                await client.ReadAsync(0, new byte[8192]);
                await client.DisconnectAsync();
            }

            await WaitForSessionsAsync(proxy, 3);
            ClientBytes = [.. proxy.Sessions.Select(s => s.FromClient).Where(b => b.Length > 0)];
        }
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _export?.Dispose();
        _loggers.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static async Task WaitForSessionsAsync(RecordingProxy proxy, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (proxy.Sessions.Count < count && DateTime.UtcNow < until)
            await Task.Delay(20);
        Assert.True(proxy.Sessions.Count >= count, $"only {proxy.Sessions.Count} sessions were recorded");
    }
}
