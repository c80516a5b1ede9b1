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
    private readonly TaskCompletionSource<(long Offset, int Length)> _firstTailWrite = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _tailFrom = int.MaxValue;
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
        await StartSessionsAsync(throughProxy);

        // The VM's last writes before the pause, then the pause.
        await File.WriteAllBytesAsync(Migration.SourcePath, Expected, _guard.Token);
        Migration.Tracker.MarkDirty(0, TailBlocks);
        _source!.BeginCutover();
        await _fenced.Task.WaitAsync(_guard.Token);
    }

    /// <summary>
    /// Like <see cref="StartAsync"/>, but the pause comes while a copy round carries the VM's writes: an idle round takes
    /// them, and once its first blocks are written <paramref name="rewrite"/> of those are written again on the source
    /// and the cut-over is asked for. Returns the blocks written again.
    /// </summary>
    public async Task<long[]> StartMidRoundAsync(int rewrite)
    {
        await StartSessionsAsync(throughProxy: false);
        Volatile.Write(ref _tailFrom, _writes.Count);
        await File.WriteAllBytesAsync(Migration.SourcePath, Expected, _guard.Token);
        Migration.Tracker.MarkDirty(0, TailBlocks);
        var first = await _firstTailWrite.Task.WaitAsync(_guard.Token);

        long[] again = [.. Enumerable.Range(0, Math.Min(rewrite, first.Length / BlockSize)).Select(i => (first.Offset / BlockSize) + i)];
        await using (var volume = new FileStream(Migration.SourcePath, FileMode.Open, FileAccess.Write))
        {
            foreach (long block in again)
            {
                RandomNumberGenerator.Fill(Expected.AsSpan((int)(block * BlockSize), BlockSize));
                volume.Position = block * BlockSize;
                await volume.WriteAsync(Expected.AsMemory((int)(block * BlockSize), BlockSize), _guard.Token);
                Migration.Tracker.MarkDirty(block, 1);
            }
        }

        _source!.BeginCutover();
        await _fenced.Task.WaitAsync(_guard.Token);
        return again;
    }

    /// <summary>The blocks fenced when the fence was armed, and the tail's writes (block ranges) made before it.</summary>
    public (HashSet<long> Fenced, List<(long Offset, int Length)> WrittenBefore) AtArming { get; private set; }

    /// <summary>The tail's writes from the first one after the VM's writes (pre-copy writes come before it).</summary>
    public List<(long Offset, int Length)> TailWrites(List<(long Offset, int Length)> writes) => writes.Skip(Volatile.Read(ref _tailFrom)).ToList();

    private async Task StartSessionsAsync(bool throughProxy)
    {
        _destination = new DestinationSession(Migration.Destination(o => o with
        {
            Fence = Fence,
            Observer = this,
            AfterBlockWrite = Written,
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
    }

    // Called on the destination's frame loop right after arming: no tail write can come in between.
    void ITransferObserver.OnFenced(long fencedBlocks)
    {
        AtArming = (Enumerable.Range(0, Blocks).Select(b => (long)b).Where(Fence.IsFenced).ToHashSet(), _writes.ToList());
        _fenced.TrySetResult();
    }

    private void Written(long offset, int length)
    {
        _writes.Enqueue((offset, length));
        if (_writes.Count > Volatile.Read(ref _tailFrom))
            _firstTailWrite.TrySetResult((offset, length));
    }

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
