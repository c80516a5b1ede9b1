using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Retention;

/// <summary>
/// The source side's retained copies: after a successful move the old volume is unexported and renamed into the
/// retained directory (<see cref="RetainedStore"/>), re-indexed under its new path, and kept until it expires
/// (<see cref="StorageWorkerOptions.RetentionPeriod"/>) or the space budget needs its room (oldest first). Deletions
/// wait while an incoming migration runs here: its session may be reading any indexed block, so a copy is never deleted
/// under it (the budget may be exceeded meanwhile). Swept at start, after each retention and every RetentionSweepInterval.
/// </summary>
public sealed class RetainedCopies(StorageWorkerOptions options, VolumeStore volumes, NbdExportService exports, BlockIndex? index, TimeProvider time,
    Func<bool> incomingRunning, ILogger<RetainedCopies> log) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<RetainedCopy> _copies = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private Task _indexing = Task.CompletedTask;

    public RetainedStore Store { get; } = new(options.VolumeDirectory);

    /// <summary>Most bytes the copies may take (the setting, or a tenth of the volume filesystem).</summary>
    public long BudgetBytes { get; } = options.RetentionBudgetBytes ?? new DriveInfo(volumes.Directory).TotalSize / 10;

    /// <summary>Whether a successful move leaves a retained copy (RetentionPeriod above zero).</summary>
    public bool Enabled => options.RetentionPeriod > TimeSpan.Zero;

    /// <summary>The copies kept, oldest first.</summary>
    public IReadOnlyList<RetainedCopy> List()
    {
        lock (_gate)
            return _copies.ToArray();
    }

    /// <summary>Where copy <paramref name="copy"/> lies (what the index names).</summary>
    public string PathOf(RetainedCopy copy) => Store.PathOf(copy);

    /// <summary>Loads the copies, indexes those the index lacks, sweeps, and sweeps again every RetentionSweepInterval.</summary>
    public void Start()
    {
        lock (_gate)
            _copies.AddRange(Store.Load(log));
        IndexInBackground(List().Select(PathOf).ToArray());
        Sweep();
        _loop = Task.Run(SweepPeriodicallyAsync);
    }

    /// <summary>
    /// Turns volume <paramref name="volumeId"/>, moved away by migration <paramref name="migrationId"/>, into a retained
    /// copy; null (the volume left as it is) when retention is off. The caller has checked that this worker sent it.
    /// </summary>
    public RetainedCopy? Retain(string volumeId, Guid migrationId)
    {
        if (!Enabled)
            return null;
        if (!volumes.Exists(volumeId))
        {
            log.LogWarning("Volume {Volume} moved away by migration {MigrationId} has no file here: nothing to retain", volumeId, migrationId);
            return null;
        }

        var now = time.GetUtcNow();
        var copy = new RetainedCopy(volumeId, migrationId, new FileInfo(volumes.PathOf(volumeId)).Length, now, now + options.RetentionPeriod);
        int clients = exports.ClientsOf(volumeId);
        exports.Unexport(volumeId);
        string retained;
        try
        {
            retained = Store.Retain(volumes, copy);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not renamed: it stays a volume, served again.
            log.LogError("Cannot retain volume {Volume}: {Reason}; it stays a served volume", volumeId, e.Message);
            exports.Export(volumeId);
            return null;
        }

        lock (_gate)
            _copies.Add(copy);
        log.LogInformation("Volume {Volume} moved away by migration {MigrationId} is retained as {Path} until {Expires} ({Clients} stale NBD clients cut)",
            volumeId, migrationId, retained, copy.ExpiresAt, clients);
        // The index names blocks by path: the old path's entries go, the copy is read under its new one.
        index?.Remove(volumes.PathOf(volumeId));
        IndexInBackground([retained]);
        Sweep();
        return copy;
    }

    /// <summary>Deletes expired copies and, oldest first, copies over the budget; none while an incoming migration runs. Returns how many went.</summary>
    public int Sweep()
    {
        var victims = Victims(time.GetUtcNow());
        if (victims.Count == 0)
            return 0;
        if (incomingRunning())
        {
            log.LogInformation("{Count} retained copies are due for deletion but wait: an incoming migration may be reading them", victims.Count);
            return 0;
        }

        foreach (var copy in victims)
        {
            index?.Remove(PathOf(copy));
            Store.Delete(copy);
            lock (_gate)
                _copies.Remove(copy);
            log.LogInformation("Retained copy of volume {Volume} (migration {MigrationId}, {Bytes} bytes, retained {RetainedAt}) deleted",
                copy.VolumeId, copy.MigrationId, copy.Bytes, copy.RetainedAt);
        }

        index?.Save();
        return victims.Count;
    }

    // Expired copies, then the oldest of the rest until what is left fits the budget.
    private List<RetainedCopy> Victims(DateTimeOffset now)
    {
        var copies = List();
        var victims = copies.Where(c => c.ExpiresAt <= now).ToList();
        long kept = copies.Except(victims).Sum(c => c.Bytes);
        foreach (var copy in copies.Except(victims).ToArray())
        {
            if (kept <= BudgetBytes)
                break;
            victims.Add(copy);
            kept -= copy.Bytes;
        }

        return victims;
    }

    private void IndexInBackground(string[] paths)
    {
        if (index is null || paths.Length == 0)
            return;
        var previous = _indexing;
        _indexing = Task.Run(async () =>
        {
            await previous.ConfigureAwait(false);
            try
            {
                var report = index.Update(paths, _stop.Token);
                index.Save();
                log.LogInformation("Indexed {Copies} retained copies ({Blocks} blocks)", report.ImagesScanned, report.BlocksScanned);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException or ObjectDisposedException)
            {
                log.LogWarning("Cannot index retained copies now (the next start does): {Reason}", e.Message);
            }
        });
    }

    /// <summary>Completes once the copies retained so far are in the index.</summary>
    public Task Indexed => _indexing;

    private async Task SweepPeriodicallyAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(options.RetentionSweepInterval, time, _stop.Token).ConfigureAwait(false);
                try
                {
                    Sweep();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.LogWarning("Cannot delete retained copies now: {Reason}", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _indexing.ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }
}
