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

    // Fenced cut-overs' volumes offered before their fence is armed (see Hold), until served or withdrawn.
    private readonly Dictionary<string, FencedNbdExport> _held = new(StringComparer.Ordinal);

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
    /// whose tail is still arriving: every request passes the fence first); false if it is served already. A volume
    /// offered held (<see cref="Hold"/>) is attached to its held export: the commands waiting there go on.
    /// </summary>
    public bool Export(string name, BlockFence? fence = null)
    {
        lock (_gate)
        {
            if (_volumes.Contains(name))
                return false;
            _held.Remove(name, out var held);
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

            if (held is not null)
                held.Serve(export);
            else
                _registry.Add(fence is null ? export : new FencedNbdExport(export, fence));
            _volumes.TryAdd(new VolumeEntry(name, path, tracker, export, indexDirty));
            _log.LogInformation("Exporting volume {Volume} ({Bytes} bytes, {Tracker} dirty tracking{Fenced})", name, bytes, tracker.GetType().Name,
                fence is null ? "" : $", {fence.FencedCount} blocks fenced");
            return true;
        }
    }

    /// <summary>
    /// Offers a fenced cut-over's volume before its fence is armed (the file is not opened yet): the VM's host selects it
    /// before the pause, so its switch is a local swap; every command waits until <see cref="Export"/> attaches the
    /// volume (the fence armed), bounded by the fence's wait timeout. Only clients allowed the volume may open it.
    /// </summary>
    public void Hold(string name, BlockFence fence)
    {
        lock (_gate)
        {
            if (_volumes.Contains(name) || _held.ContainsKey(name))
                throw new InvalidOperationException($"volume '{name}' is served already");
            var held = FencedNbdExport.Held(name, fence);
            _registry.Add(held);
            _held.Add(name, held);
        }

        _log.LogInformation("Offering volume {Volume} held ({Bytes} bytes): its commands wait for the fence's final round", name, fence.VolumeBytes);
    }

    /// <summary>
    /// Stops serving a volume (new connections cannot open it; requests on open ones fail with an I/O error). A volume
    /// still held is withdrawn: its waiting commands fail and its connections close.
    /// </summary>
    public bool Unexport(string name)
    {
        lock (_gate)
        {
            if (_held.Remove(name, out var held))
            {
                _registry.Remove(name);
                held.Withdraw();
                _log.LogInformation("Withdrew held volume {Volume}", name);
                return true;
            }

            if (!_volumes.TryRemove(name, out var entry))
                return false;
            if (_registry.TryGet(name, out var served))
                (served as FencedNbdExport)?.Withdraw();
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
            foreach (var held in _held.Values)
                held.Withdraw();
            _held.Clear();
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
