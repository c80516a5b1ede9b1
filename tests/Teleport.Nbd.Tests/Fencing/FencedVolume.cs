using System.Collections.Concurrent;
using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests.Fencing;

/// <summary>
/// A destination volume served through a <see cref="FencedNbdExport"/> by our NBD server, with the test playing the
/// tail: the source's image is known, fenced blocks hold stale bytes until <see cref="Arrive"/> writes the source's copy
/// the way the destination session does (begin, write, end). A held volume is offered before its fence is armed:
/// <see cref="Serve"/> arms it and attaches the file, as the destination does when the final round is announced.
/// </summary>
internal sealed class FencedVolume : IAsyncDisposable
{
    public const int BlockSize = 4096;
    public const string Name = "fenced";

    private readonly ServerHarness _harness;
    private readonly FileNbdExport _file;
    private readonly SafeFileHandle _tail;
    private readonly IReadOnlyList<BlockRun> _fencedRuns;

    public FencedVolume(int blocks, IEnumerable<long> fenced, TimeSpan? waitTimeout = null, int seed = 1, byte? pattern = null, bool held = false)
    {
        _harness = ServerHarness.Start();
        var random = new Random(seed);
        Source = new byte[blocks * BlockSize];
        if (pattern is { } p)
            Source.AsSpan().Fill(p);
        else
            random.NextBytes(Source);
        var fencedSet = fenced.ToHashSet();
        byte[] initial = (byte[])Source.Clone();
        // A fenced block holds what the source sent before the pause: stale bytes nobody may see.
        foreach (long b in fencedSet)
            initial.AsSpan((int)(b * BlockSize), BlockSize).Fill(0xEE);
        Path = _harness.PathOf(Name);
        File.WriteAllBytes(Path, initial);
        Fence = new BlockFence(Source.Length, BlockSize, waitTimeout ?? TimeSpan.FromSeconds(30));
        Fence.AttachRequester(runs =>
        {
            foreach (var run in runs)
            {
                for (long b = run.Start; b < run.End; b++)
                    Requested.Enqueue(b);
            }

            RequestedSignal.Release();
        });
        _fencedRuns = [.. fencedSet.Order().Select(b => new BlockRun(b, 1))];
        _file = new FileNbdExport(Name, Path);
        Export = held ? FencedNbdExport.Held(Name, Fence) : new FencedNbdExport(_file, Fence);
        if (!held)
            Fence.Arm(_fencedRuns);
        _harness.Registry.Add(Export);
        _tail = File.OpenHandle(Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
    }

    public byte[] Source { get; }

    public string Path { get; }

    public BlockFence Fence { get; }

    public FencedNbdExport Export { get; }

    public NbdServer Server => _harness.Server;

    /// <summary>A held volume's final round is announced: the fence is armed and the file attached.</summary>
    public void Serve()
    {
        Fence.Arm(_fencedRuns);
        Export.Serve(_file);
    }

    public System.Net.IPEndPoint EndPoint => _harness.EndPoint;

    public string Url => _harness.Url(Name);

    /// <summary>Blocks the fence asked the tail for, in order.</summary>
    public ConcurrentQueue<long> Requested { get; } = new();

    public SemaphoreSlim RequestedSignal { get; } = new(0);

    /// <summary>The tail delivers the source's copy of <paramref name="block"/>; false when it was dropped (the guest's block).</summary>
    public bool Arrive(long block)
    {
        if (!Fence.BeginArrival(block))
            return false;
        RandomAccess.Write(_tail, Source.AsSpan((int)(block * BlockSize), BlockSize), block * BlockSize);
        Fence.EndArrival(block, 1);
        return true;
    }

    public byte[] SourceBlock(long block) => Source.AsSpan((int)(block * BlockSize), BlockSize).ToArray();

    public byte[] OnDisk() => File.ReadAllBytes(Path);

    public async ValueTask DisposeAsync()
    {
        _tail.Dispose();
        await _harness.DisposeAsync();
        _file.Dispose();
    }
}
