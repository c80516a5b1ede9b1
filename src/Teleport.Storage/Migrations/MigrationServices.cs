using Microsoft.Extensions.Logging;
using Teleport.Blocks;
using Teleport.Storage.Security;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Migrations;

/// <summary>What both sides of this worker's migrations work with; <see cref="Log"/> is the one category of their lines.</summary>
internal sealed record MigrationServices(
    StorageWorkerOptions Options, VolumeStore Store, VolumeTrackers Volumes, NbdExportService Exports, ILoggerFactory Loggers, ILogger Log,
    BlockIndex? Index, DataChannelSecurity DataChannel, RestartJournal Journal, MigrationReplies Replies)
{
    public string StorageId => Options.StorageId;

    /// <summary>How incoming migrations resolved their blocks, for the worker's metrics.</summary>
    public ResolutionTotals Resolved { get; } = new();
}
