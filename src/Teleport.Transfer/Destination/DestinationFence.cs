using System.Collections.Concurrent;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The destination's side of a fenced early resume. It collects the final round's announcement (Fence frames, then
/// FenceEnd) and arms the <see cref="BlockFence"/> with those blocks plus every block the volume still lacks; from then
/// on the volume may be served. Blocks a guest waits for go to the source as UrgentRequest frames, sent by a pump of
/// their own beside the phase loop. Without a fence in the options the announcement is checked and ignored.
/// </summary>
internal sealed class DestinationFence
{
    private readonly BlockFence? _fence;
    private readonly List<BlockRun> _announced = [];
    private readonly ConcurrentQueue<BlockRun> _urgent = new();
    private readonly List<BlockRun> _sending = [];
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _announcedBlocks;

    public DestinationFence(BlockFence? fence)
    {
        _fence = fence;
        fence?.AttachRequester(runs =>
        {
            foreach (var run in runs)
                _urgent.Enqueue(run);
            Volatile.Read(ref _wake).TrySetResult();
        });
    }

    /// <summary>A new connection: a half-received announcement is void, and requests lost with the old one are made again.</summary>
    public void StartConnection()
    {
        _announced.Clear();
        _announcedBlocks = 0;
        if (_fence is { Armed: true })
            _fence.RequestWaitingAgain();
    }

    public void AddAnnounced(ReadOnlySpan<byte> payload, in VolumeGeometry geometry)
    {
        int before = _announced.Count;
        RequestMessage.Parse(payload, geometry, _announced, MessageType.Fence);
        for (int i = before; i < _announced.Count; i++)
            _announcedBlocks += _announced[i].Count;
        if (_announcedBlocks > geometry.BlockCount)
            throw new TransferException(TransferErrorCode.OutOfRange, $"Fence lists {_announcedBlocks} blocks of a volume of {geometry.BlockCount}");
    }

    /// <summary>Arms the fence (once) with the announced blocks and those absent from <paramref name="presence"/>; returns the blocks fenced, or null.</summary>
    public long? EndAnnouncement(FenceEndMessage end, BlockBitmap presence)
    {
        if (end.Blocks != _announcedBlocks)
            throw new TransferException(TransferErrorCode.BadFrame, $"FenceEnd counts {end.Blocks} blocks, the Fence frames listed {_announcedBlocks}");
        var runs = new List<BlockRun>(_announced);
        _announced.Clear();
        _announcedBlocks = 0;
        if (_fence is null || _fence.Armed)
            return null;
        runs.AddRange(presence.ClearRuns());
        _fence.Arm(runs);
        return _fence.FencedCount;
    }

    /// <summary>
    /// Sends urgent requests on <paramref name="c"/> as soon as a guest waits, beside the phase loop (which may be busy
    /// with a checkpoint's fsync for a while), until <paramref name="ct"/> ends the connection's turn.
    /// </summary>
    public async Task PumpAsync(TransferConnection c, CancellationToken ct)
    {
        if (_fence is null)
            return;
        try
        {
            while (true)
            {
                var wake = Volatile.Read(ref _wake).Task;
                if (_urgent.IsEmpty)
                    await wake.WaitAsync(ct).ConfigureAwait(false);
                // A fresh signal before draining: a request queued from now on wakes the next wait.
                Interlocked.Exchange(ref _wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                await SendUrgentAsync(c, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or TransferException or IOException)
        {
            // The connection ended; the phase loop reports why, and the next connection asks again.
        }
    }

    private async ValueTask SendUrgentAsync(TransferConnection c, CancellationToken ct)
    {
        if (_urgent.IsEmpty)
            return;
        _sending.Clear();
        while (_urgent.TryDequeue(out var run))
            _sending.Add(run);

        await RunFrames.SendAsync(c, MessageType.UrgentRequest, _sending, ct).ConfigureAwait(false);
    }
}
