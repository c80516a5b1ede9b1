using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;
using Teleport.Storage.DirtyTracking;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Volumes;

/// <summary>
/// Serves every consistent volume of the store over NBD, each with its own dirty tracker (kept in
/// <see cref="VolumeTrackers"/>) so writes made while a migration runs are sent again.
/// </summary>
public sealed class NbdExportService : IHostedService, IAsyncDisposable
{
    private readonly StorageWorkerOptions _options;
    private readonly VolumeStore _store;
    private readonly VolumeTrackers _volumes;
    private readonly ILogger<NbdExportService> _log;
    private readonly NbdExportRegistry _registry = new();
    private readonly NbdServer _server;
    private readonly Lock _gate = new();
    private readonly Action? _indexWritten;

    /// <summary>
    /// With <paramref name="indexWritten"/> (the worker indexes its volumes) every export also marks an index-dirty
    /// bitmap (<see cref="VolumeEntry.IndexDirty"/>) and calls it after each write.
    /// </summary>
    public NbdExportService(StorageWorkerOptions options, VolumeStore store, VolumeTrackers volumes, ILoggerFactory loggers, Action? indexWritten = null)
    {
        _options = options;
        _store = store;
        _volumes = volumes;
        _indexWritten = indexWritten;
        _log = loggers.CreateLogger<NbdExportService>();
        Clients = new ExportClientList(options, store);
        _server = new NbdServer(_registry, ServerOptions(options, Clients), loggers.CreateLogger<NbdServer>());
    }

    /// <summary>Who may open which volume over TLS.</summary>
    public ExportClientList Clients { get; }

    /// <summary>The bound NBD endpoint once started.</summary>
    public EndPoint? EndPoint { get; private set; }

    /// <summary>Whether the NBD server listens and accepts (what the worker's readiness checks).</summary>
    public bool Accepting => _server.Accepting;

    /// <summary>NBD clients attached to the export of volume <paramref name="name"/>.</summary>
    public int ClientsOf(string name) => _server.ClientsOf(name);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (string name in _store.List())
            Export(name);
        EndPoint = _server.Listen(_options.NbdEndPoint);
        if (!_options.NbdSecured && !IPAddress.IsLoopback(_options.NbdEndPoint.Address))
            _log.LogWarning("NBD on {EndPoint} is served without TLS (Storage:NbdInsecure): whoever reaches it can read and write every volume", EndPoint);
        _log.LogInformation("Serving {Count} volumes from {Directory} over NBD on {EndPoint}", _volumes.List().Count, _store.Directory, EndPoint);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Starts serving a volume of the store (a volume a migration just completed, or, with <paramref name="fence"/>, one
    /// whose tail is still arriving: every request passes the fence first); false if it is served already.
    /// </summary>
    public bool Export(string name, BlockFence? fence = null)
    {
        lock (_gate)
        {
            if (_volumes.Contains(name))
                return false;
            string path = _store.PathOf(name);
            long bytes = new FileInfo(path).Length;
            var tracker = DirtyTrackerFactory.Create(path, bytes,
                new DirtyTrackingOptions { Mode = _options.DirtyTracking, BlockSize = _options.BlockSize });
            FileNbdExport export;
            var indexDirty = _indexWritten is null ? null : DirtyBitmap.ForVolume(bytes, _options.BlockSize);
            try
            {
                var marked = indexDirty is null ? tracker : new TeeDirtyTracker(tracker, indexDirty, _indexWritten!);
                export = new FileNbdExport(name, path, readOnly: false, dirtyTracker: marked);
            }
            catch
            {
                (tracker as IDisposable)?.Dispose();
                throw;
            }

            _registry.Add(fence is null ? export : new FencedNbdExport(export, fence));
            _volumes.TryAdd(new VolumeEntry(name, path, tracker, export, indexDirty));
            _log.LogInformation("Exporting volume {Volume} ({Bytes} bytes, {Tracker} dirty tracking{Fenced})", name, bytes, tracker.GetType().Name,
                fence is null ? "" : $", {fence.FencedCount} blocks fenced");
            return true;
        }
    }

    /// <summary>
    /// A fenced cut-over's volume will be served once its fence is armed: a client selecting it meanwhile (the VM's host
    /// switching on its parked connection) is held and answered then, not refused and left to ask again across the WAN.
    /// </summary>
    public void Expect(string name) => _registry.Expect(name);

    /// <summary>The expected volume will not be served (its migration ended): held clients are refused now.</summary>
    public void Unexpect(string name) => _registry.Unexpect(name);

    /// <summary>Stops serving a volume (new connections cannot open it; requests on open ones fail with an I/O error).</summary>
    public bool Unexport(string name)
    {
        lock (_gate)
        {
            if (!_volumes.TryRemove(name, out var entry))
                return false;
            _registry.Remove(name);
            entry.Export.Dispose();
            (entry.Tracker as IDisposable)?.Dispose();
            _log.LogInformation("Stopped exporting volume {Volume}", name);
            return true;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _server.StopAsync().ConfigureAwait(false);
        lock (_gate)
        {
            foreach (var entry in _volumes.List())
            {
                _registry.Remove(entry.Name);
                _volumes.TryRemove(entry.Name, out _);
                entry.Export.Dispose();
                (entry.Tracker as IDisposable)?.Dispose();
            }
        }
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    // With TLS every client proves an identity (certificate CN or PSK identity) and sees only the volumes it is allowed.
    private static NbdServerOptions ServerOptions(StorageWorkerOptions options, ExportClientList clients) =>
        options.NbdServerTls() is { } tls
            ? options.Nbd with { Tls = tls, ExportAccess = clients.Allows }
            : options.Nbd;
}
