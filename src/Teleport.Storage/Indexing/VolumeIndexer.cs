using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Indexing;

/// <summary>
/// Keeps the worker's content index current as its served volumes change. At start it indexes the volumes it does
/// not cover yet (unchanged ones are skipped by their file identity). Then every NBD write marks its blocks in the
/// volume's index-dirty bitmap and wakes this loop, which waits <see cref="StorageWorkerOptions.IndexDebounce"/> (a
/// burst of writes is read once), takes the dirty blocks, re-hashes only those and updates their entries
/// (<see cref="BlockIndex.Refresh"/>). The index file is saved at most every IndexSaveInterval, and at stop.
/// </summary>
public sealed class VolumeIndexer(StorageWorkerOptions options, BlockIndex index, VolumeTrackers volumes, ILogger<VolumeIndexer> log) : IAsyncDisposable
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _sinceSave = Stopwatch.StartNew();
    private Task _loop = Task.CompletedTask;
    private long _blocksRefreshed;
    private long _passes;
    private volatile bool _unsaved;

    /// <summary>Blocks re-hashed since start (zero blocks included: they are read, not indexed).</summary>
    public long BlocksRefreshed => Interlocked.Read(ref _blocksRefreshed);

    /// <summary>Completed drain passes (the initial indexing counts as the first).</summary>
    public long Passes => Interlocked.Read(ref _passes);

    /// <summary>Called by the exports after every write: wakes the loop (cheap, never blocks the writer).</summary>
    public void Written()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another writer woke it first.
            }
        }
    }

    public void Start() => _loop = Task.Run(RunAsync);

    /// <summary>A deleted volume leaves the index.</summary>
    public void Forget(string volumePath)
    {
        if (index.Remove(volumePath))
        {
            _unsaved = true;
            log.LogInformation("Volume {Path} left the index", volumePath);
        }
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        try
        {
            try
            {
                IndexServedVolumes(ct);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A volume that cannot be read now is indexed at the next start; writes are still followed.
                log.LogWarning("Cannot index the served volumes: {Reason}", e.Message);
            }

            while (true)
            {
                await _wake.WaitAsync(ct).ConfigureAwait(false);
                await Task.Delay(options.IndexDebounce, ct).ConfigureAwait(false);
                Drain(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: what is still dirty is drained once more by StopAsync.
        }
        catch (Exception e)
        {
            log.LogError(e, "The volume indexer stopped; the index is no longer kept current");
        }
    }

    private void IndexServedVolumes(CancellationToken ct)
    {
        string[] paths = volumes.List().Select(v => v.Path).ToArray();
        var report = index.Update(paths, ct);
        if (report.ImagesScanned > 0)
        {
            _unsaved = true;
            log.LogInformation("Indexed {Images} volumes ({Blocks} blocks) into {Index}", report.ImagesScanned, report.BlocksScanned, index.FilePath);
        }

        Interlocked.Increment(ref _passes);
        SaveIfDue(force: report.ImagesScanned > 0);
    }

    /// <summary>Re-hashes every block written since the last pass, volume by volume.</summary>
    internal void Drain(CancellationToken ct)
    {
        var taken = new List<BlockRun>();
        byte[] block = new byte[options.BlockSize];
        foreach (var volume in volumes.List())
        {
            if (volume.IndexDirty is not { DirtyCount: > 0 } dirty)
                continue;
            taken.Clear();
            dirty.TakeDirty(0, dirty.BlockCount, taken);
            long refreshed = 0;
            try
            {
                using var handle = File.OpenHandle(volume.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                foreach (var run in taken)
                {
                    for (long b = run.Start; b < run.End; b++)
                    {
                        ct.ThrowIfCancellationRequested();
                        Refresh(handle, volume, b, block);
                        refreshed++;
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException or OperationCanceledException)
            {
                // Put back what was not read: a later pass (or the next start's identity check) covers it.
                foreach (var run in taken)
                    dirty.MarkDirty(run.Start, run.Count);
                if (e is OperationCanceledException)
                    throw;
                log.LogWarning("Cannot re-index volume {Volume}: {Reason}", volume.Name, e.Message);
                continue;
            }

            Interlocked.Add(ref _blocksRefreshed, refreshed);
            _unsaved |= refreshed > 0;
            log.LogDebug("Re-indexed {Blocks} written blocks of volume {Volume}", refreshed, volume.Name);
        }

        Interlocked.Increment(ref _passes);
        SaveIfDue(force: false);
    }

    private void Refresh(SafeFileHandle handle, VolumeEntry volume, long blockNumber, byte[] buffer)
    {
        int got = FileReads.ReadAtMost(handle, buffer, blockNumber * buffer.Length);
        var data = buffer.AsSpan(0, got);
        if (got == 0 || ZeroBlocks.IsZero(data))
            return;
        // A final partial block is indexed zero-padded, as the scanner does.
        index.Refresh(Fingerprint.ComputePadded(data, buffer), volume.Path, blockNumber);
    }

    private void SaveIfDue(bool force)
    {
        if (!_unsaved || (!force && _sinceSave.Elapsed < options.IndexSaveInterval))
            return;
        index.Save();
        _unsaved = false;
        _sinceSave.Restart();
    }

    /// <summary>Stops the loop, drains what is left and saves the index.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        try
        {
            Drain(CancellationToken.None);
            if (_unsaved)
                index.Save();
            _unsaved = false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Cannot save the index at stop: {Reason}", e.Message);
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Dispose();
        _wake.Dispose();
        return ValueTask.CompletedTask;
    }
}
