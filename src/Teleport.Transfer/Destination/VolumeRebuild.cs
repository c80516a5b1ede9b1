using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Teleport.Blocks;

namespace Teleport.Transfer;

/// <summary>
/// What one source session rebuilds on this side: the checkpointed volume and the rooms that fill it (index resolver,
/// request planner, Data frame applier). They are created together for a source session and replaced together when
/// another one begins; a reconnect of the same source session keeps them.
/// </summary>
internal sealed class VolumeRebuild : IDisposable
{
    private VolumeRebuild(CheckpointedVolume volume, BlockIndex? index, BlockBitmap? hint, DestinationStatistics stats, string volumeFullPath,
        Buddies.BuddySet? buddies)
    {
        Volume = volume;
        var waiting = new BlockBitmap(volume.Geometry.BlockCount);
        Requests = new RequestPlanner(volume.Presence, waiting, stats);
        var fill = buddies is null ? null : new Buddies.BuddyFill(buddies, volume, Requests, stats, index, volumeFullPath);
        Resolver = new IndexResolver(volume, Requests, waiting, stats, index, hint, fill);
        Data = new DataFrameApplier(volume, Resolver, Requests, stats, index, volumeFullPath);
    }

    public CheckpointedVolume Volume { get; }

    public RequestPlanner Requests { get; }

    public IndexResolver Resolver { get; }

    public DataFrameApplier Data { get; }

    public DestinationState State => Volume.State;

    /// <summary>True when this rebuild belongs to <paramref name="sourceSessionId"/> and its volume geometry.</summary>
    public bool Serves(Guid sourceSessionId, in VolumeGeometry geometry) =>
        State.SourceSessionId == sourceSessionId && Volume.Geometry == geometry;

    /// <summary>A new connection: a new zstd stream and a new list of fingerprints for repeat entries.</summary>
    public void StartConnection()
    {
        Resolver.StartConnection();
        Data.StartConnection();
    }

    /// <summary>
    /// Opens the volume for a source session. The same source session after a restart of this process continues where
    /// the state file says; a new one starts over, and what an earlier attempt of this migration left in the volume is
    /// only a hint, trusted per block after re-hashing it. <paramref name="previous"/> is the state of the rebuild this
    /// one replaces (its volume already closed), or null.
    /// </summary>
    public static VolumeRebuild Open(DestinationOptions options, string volumeFullPath, ILogger log, in VolumeGeometry geometry,
        Guid sourceSessionId, DestinationState? previous, DestinationStatistics stats, Buddies.BuddySet? buddies = null)
    {
        var saved = previous ?? LoadState(options, log);
        bool sameMigration = saved is not null && saved.MigrationId == options.MigrationId && saved.Geometry == geometry;
        var file = VolumeFile.OpenDestination(options.VolumePath, geometry.Size);
        try
        {
            if (sameMigration && saved!.SourceSessionId == sourceSessionId)
            {
                log.LogInformation("Migration {MigrationId}: resuming from state file (phase {Phase}, {Present} blocks present)",
                    options.MigrationId, saved.Phase, saved.Presence.Count);
                return new VolumeRebuild(new CheckpointedVolume(file, saved, options, saved.DurableSeq, lastCheckpointTicks: 0),
                    options.Index, hint: null, stats, volumeFullPath, buddies);
            }

            var hint = sameMigration && saved!.Presence.Count > 0 ? saved.Presence : null;
            var state = new DestinationState(options.MigrationId, sourceSessionId, geometry, fresh: file.Created && previous is null);
            // Nothing is claimed yet, so this first write needs no fsync: a torn file is ignored like a missing one.
            state.Save(options.EffectiveStatePath, durable: false);
            log.LogInformation("Migration {MigrationId}: new source session, volume {Path} of {Size} bytes ({Fresh})",
                options.MigrationId, options.VolumePath, geometry.Size, state.Fresh ? "created" : "existing");
            return new VolumeRebuild(new CheckpointedVolume(file, state, options, lastSeq: 0, Stopwatch.GetTimestamp()),
                options.Index, hint, stats, volumeFullPath, buddies);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static DestinationState? LoadState(DestinationOptions options, ILogger log)
    {
        try
        {
            return DestinationState.Load(options.EffectiveStatePath);
        }
        catch (InvalidDataException e)
        {
            log.LogWarning("Migration {MigrationId}: ignoring state file: {Error}", options.MigrationId, e.Message);
            return null;
        }
    }

    public void Dispose()
    {
        Data.Dispose();
        Volume.Dispose();
    }
}
