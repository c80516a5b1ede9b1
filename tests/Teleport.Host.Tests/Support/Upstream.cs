using System.Net.Sockets;
using Teleport.Host.Switching;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Host.Tests.Support;

/// <summary>A storage-worker stand-in: a real <see cref="NbdServer"/> serving one file on a Unix socket.</summary>
internal sealed class Upstream : IAsyncDisposable
{
    private NbdServer? _server;

    private readonly NbdServerOptions? _serverOptions;

    private Upstream(string socketPath, string file, string exportName, TimeSpan writeDelay, bool readOnly, NbdServerOptions? serverOptions)
    {
        _serverOptions = serverOptions;
        SocketPath = socketPath;
        FilePath = file;
        ExportName = exportName;
        WriteDelay = writeDelay;
        ReadOnly = readOnly;
    }

    public bool ReadOnly { get; }

    public string SocketPath { get; }

    public string FilePath { get; }

    public string ExportName { get; }

    public TimeSpan WriteDelay { get; }

    public RecordingExport Export { get; private set; } = null!;

    public UpstreamTarget Target => new(new UnixDomainSocketEndPoint(SocketPath), ExportName);

    /// <summary>Serves <paramref name="file"/> (created with <paramref name="size"/> bytes of zeroes if missing); <paramref name="server"/>: TLS and grants, as a storage worker sets them.</summary>
    public static Upstream Start(string socketPath, string file, string exportName, long size, TimeSpan writeDelay = default, bool readOnly = false,
        NbdServerOptions? server = null)
    {
        if (!File.Exists(file))
        {
            using var stream = File.Create(file);
            stream.SetLength(size);
        }

        var upstream = new Upstream(socketPath, file, exportName, writeDelay, readOnly, server);
        upstream.Restart();
        return upstream;
    }

    /// <summary>Starts serving again after <see cref="StopAsync"/> (a storage worker coming back).</summary>
    public void Restart()
    {
        var registry = new NbdExportRegistry();
        Export = new RecordingExport(new FileNbdExport(ExportName, FilePath, ReadOnly), WriteDelay);
        registry.Add(Export);
        _server = new NbdServer(registry, _serverOptions);
        _server.Listen(new UnixDomainSocketEndPoint(SocketPath));
    }

    /// <summary>Stops serving and drops every connection (a storage worker going away).</summary>
    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
            _server = null;
        }
    }

    public byte[] ReadFile()
    {
        using var stream = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        byte[] bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
