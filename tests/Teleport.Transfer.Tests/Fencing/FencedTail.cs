using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Transfer.Tests.Fencing;

/// <summary>
/// A real migration with a fenced early resume, on loopback: the source's volume starts zero (the pre-copy is one zero
/// run), then the "VM" rewrites <see cref="TailBlocks"/> blocks and the cut-over begins. The final round carries them
/// at <see cref="Rate"/>, one 1 MiB frame after another, and the destination's volume is served over NBD (our server, a
/// <see cref="FencedNbdExport"/>, connected before the pause like the host's pre-connected path) from the moment the
/// fence is armed, while those frames still stream.
/// </summary>
internal sealed class FencedTail : IAsyncDisposable, ITransferObserver
{
    public const int BlockSize = VolumeBuilder.BlockSize;
    public const int Blocks = 2048;
    public const int TailBlocks = 1536;

    /// <summary>6 MiB of tail at 2 MiB/s: about 3 s, a frame every half second.</summary>
    public static readonly ByteRate Rate = ByteRate.FromBytesPerSecond(2 << 20);

    private readonly TaskCompletionSource _fenced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _guard = new(TimeSpan.FromSeconds(90));
    private readonly NbdExportRegistry _registry = new();
    private readonly ConcurrentQueue<(long Offset, int Length)> _writes = new();
    private DestinationSession? _destination;
    private SourceSession? _source;
    private NbdServer? _server;
    private FencedNbdExport? _export;
    private Task<TransferResult>? _destinationRun;
    private Task<TransferResult>? _sourceRun;

    public FencedTail(TimeSpan? waitTimeout = null)
    {
        Migration = new Migration(new byte[Blocks * BlockSize]);
        Fence = new BlockFence(Blocks * BlockSize, BlockSize, waitTimeout ?? TimeSpan.FromSeconds(30));
        Expected = new byte[Blocks * BlockSize];
        RandomNumberGenerator.Fill(Expected.AsSpan(0, TailBlocks * BlockSize));
    }

    public Migration Migration { get; }

    public BlockFence Fence { get; }

    /// <summary>The source's volume at the pause; tests apply their guest writes to it.</summary>
    public byte[] Expected { get; }

    public CuttableRelay? Proxy { get; private set; }

    public NbdClient? Client { get; private set; }

    /// <summary>Runs the migration to the armed fence; the volume is then served and <see cref="Client"/> attached to it.</summary>
    public async Task StartAsync(bool throughProxy = false)
    {
        _destination = new DestinationSession(Migration.Destination(o => o with
        {
            Fence = Fence,
            Observer = this,
            AfterBlockWrite = (offset, length) => _writes.Enqueue((offset, length)),
        }));
        var endpoint = _destination.Start();
        _destinationRun = _destination.RunAsync(_guard.Token);
        if (throughProxy)
        {
            Proxy = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), endpoint);
            endpoint = (IPEndPoint)Proxy.EndPoint;
        }

        _source = new SourceSession(Migration.Source(endpoint, o => o with
        {
            AutoCutover = false,
            FencedCutover = true,
            Bandwidth = Rate,
            MaxReconnectAttempts = 100_000,
        }), Migration.Tracker);
        _sourceRun = _source.RunAsync(_guard.Token);
        await _source.Converged.WaitAsync(_guard.Token);

        // The host's path to the destination is connected before the pause; the guest does no I/O until the fence is armed.
        _export = new FencedNbdExport(new FileNbdExport("disk", Migration.DestinationPath), Fence);
        _registry.Add(_export);
        _server = new NbdServer(_registry, new NbdServerOptions());
        var nbd = _server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        Client = await NbdClient.ConnectAsync(nbd, "disk", cancellationToken: _guard.Token);

        // The VM's last writes before the pause, then the pause.
        await File.WriteAllBytesAsync(Migration.SourcePath, Expected, _guard.Token);
        Migration.Tracker.MarkDirty(0, TailBlocks);
        _source.BeginCutover();
        await _fenced.Task.WaitAsync(_guard.Token);
    }

    void ITransferObserver.OnFenced(long fencedBlocks) => _fenced.TrySetResult();

    public byte[] ExpectedBlock(long block) => Expected.AsSpan((int)(block * BlockSize), BlockSize).ToArray();

    /// <summary>Position of the tail's write of <paramref name="block"/> among all its writes (-1: never written).</summary>
    public int WriteOrderOf(long block)
    {
        long offset = block * BlockSize;
        return _writes.ToList().FindIndex(w => w.Offset <= offset && offset < w.Offset + w.Length);
    }

    /// <summary>Waits for both sides; the migration must end verified.</summary>
    public async Task<TransferResult> CompleteAsync()
    {
        var source = await _sourceRun!.WaitAsync(_guard.Token);
        var destination = await _destinationRun!.WaitAsync(_guard.Token);
        Assert.True(source.Verified);
        Assert.True(destination.Verified);
        return destination;
    }

    public async ValueTask DisposeAsync()
    {
        if (Client is not null)
            await Client.DisposeAsync();
        if (_server is not null)
            await _server.DisposeAsync();
        _export?.Dispose();
        await _guard.CancelAsync();
        foreach (var run in new Task?[] { _sourceRun, _destinationRun })
        {
            try
            {
                if (run is not null)
                    await run;
            }
            catch (Exception)
            {
                // Failures were asserted by the test.
            }
        }

        if (_source is not null)
            await _source.DisposeAsync();
        if (_destination is not null)
            await _destination.DisposeAsync();
        if (Proxy is not null)
            await Proxy.DisposeAsync();
        _guard.Dispose();
        Migration.Dispose();
    }
}
