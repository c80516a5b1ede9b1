using Teleport.Contracts;

namespace Teleport.Cli.Commands;

/// <summary>
/// What <c>teleport migrate --wait</c> knows so far, built from the migration's events: the phase each event ends or
/// advances, a line for the operator, and the figures for the summary.
/// </summary>
public sealed class MigrateProgress
{
    public static readonly string[] Phases = ["prepare", "index", "request", "copy", "memory", "cut-over"];

    public long VolumeBytes { get; private set; }
    public long Blocks { get; private set; }
    public long BlocksFromIndex { get; private set; }
    public long BlocksToCopy { get; private set; }
    public long BlocksSent { get; private set; }
    public long BytesOnWire { get; private set; }
    public int Rounds { get; private set; }
    public double? DowntimeMs { get; private set; }
    public double? PausedToVerifiedMs { get; private set; }
    public double? PausedToSwitchedMs { get; private set; }
    private DateTimeOffset? _pausedAt;
    public MigrationSucceeded? Succeeded { get; private set; }
    public MigrationFailed? Failed { get; private set; }

    public bool Finished => Succeeded is not null || Failed is not null;

    /// <summary>Records one event; returns its phase and the line to show (null: nothing worth a line).</summary>
    public (string Phase, string Line)? Apply(object message)
    {
        switch (message)
        {
            case DestinationPrepared p:
                return ("prepare", $"destination {p.DestinationStorageId} ready, data channel at {p.DataEndpoint}");
            case IndexStreamed s:
                (VolumeBytes, Blocks) = (s.VolumeBytes, s.Blocks);
                return ("index", $"{s.Blocks} blocks of {Operator.Bytes(s.VolumeBytes)} indexed ({s.ZeroBlocks} zero), {Operator.Bytes(s.IndexBytes)} of index sent");
            case BlocksRequested r:
                (BlocksFromIndex, BlocksToCopy) = (r.BlocksFromIndex, r.BlocksRequestedFromSource);
                return ("request", $"{r.BlocksFromIndex} blocks rebuilt from the destination's index, {r.BlocksRequestedFromSource} asked from the source");
            case CopyRoundCompleted c when c.Round > Rounds:
                Rounds = c.Round;
                BlocksSent += c.BlocksSent;
                BytesOnWire += c.BytesOnWire;
                return ("copy", $"round {c.Round}: {c.BlocksSent} blocks, {Operator.Bytes(c.BytesOnWire)} on the wire, {c.DirtyBlocksRemaining} dirty left");
            case DirtyBelowThreshold d:
                return ("copy", d.RoundCapReached
                    ? $"round cap reached after {d.Rounds} rounds with {d.DirtyBlocks} dirty blocks: cutting over"
                    : $"{d.DirtyBlocks} dirty blocks after {d.Rounds} rounds: cutting over");
            case VmDescribed or IncomingVmPrepared or MemoryMigrationProgress or MemoryPreSwitchover or VmMemoryMigrated:
                return WholeVm(message);
            case VmPaused p:
                _pausedAt = p.PausedAt;
                return ("cut-over", "VM paused");
            case TargetSwitched t:
                PausedToSwitchedMs = Operator.MillisBetween(_pausedAt, t.SwitchedAt);
                return ("cut-over", $"disk path switched to {t.StorageId}{AfterPause(PausedToSwitchedMs)}");
            case MigrationCompleted m:
                (VolumeBytes, BytesOnWire, BlocksFromIndex, BlocksSent, Rounds) = (m.VolumeBytes, m.BytesOnWire, m.BlocksFromIndex, m.BlocksSent, m.Rounds);
                PausedToVerifiedMs = Operator.MillisBetween(_pausedAt, m.CompletedAt);
                return ("cut-over", m.Verified
                    ? $"final sync done, destination verified equal to the source{AfterPause(PausedToVerifiedMs)}"
                    : "destination could NOT verify its volume");
            case VmResumed r:
                return ("cut-over", $"VM resumed on host {r.HostId}");
            case TransferFailed f:
                return ("rollback", $"storage {f.StorageId} failed in {f.Phase}: {f.Reason}");
            case HostOperationFailed h:
                return ("rollback", $"host {h.HostId} could not {h.Operation}: {h.Reason}");
            case TargetSwitchedBack b:
                return ("rollback", $"disk path switched back to {b.StorageId}");
            case MigrationSucceeded s:
                Succeeded = s;
                (VolumeBytes, BytesOnWire, BlocksFromIndex, Rounds, DowntimeMs) = (s.VolumeBytes, s.BytesOnWire, s.BlocksFromIndex, s.Rounds, s.DowntimeMilliseconds);
                return ("done", s.DestinationHostId is { } toHost
                    ? $"succeeded: VM {s.VmId} runs on host {toHost}, disk on {s.DestinationStorageId}"
                    : $"succeeded: VM {s.VmId} runs on {s.DestinationStorageId}");
            case MigrationFailed f:
                Failed = f;
                return ("done", $"failed in {f.Phase}: {f.Reason}");
            default:
                return null;
        }
    }

    /// <summary>The outcome as <c>--json</c> prints it.</summary>
    public MigrateOutcome Outcome(Guid id) => new(
        id, Succeeded is not null ? "Succeeded" : Failed is not null ? "Failed" : "Running", Failed?.Phase, Failed?.Reason,
        VolumeBytes, BytesOnWire, Blocks, BlocksFromIndex, Rounds, DowntimeMs, PausedToVerifiedMs, PausedToSwitchedMs,
        Succeeded?.DestinationHostId, Succeeded?.MemoryBytes ?? 0, WholeVmMs(Succeeded?.QemuDowntimeMilliseconds), WholeVmMs(Succeeded?.StorageDowntimeMilliseconds),
        Succeeded?.PredictedDowntimeMilliseconds, Succeeded?.PostCopy ?? Failed?.PostCopy ?? false);

    // The split is published only for whole-VM moves.
    private double? WholeVmMs(double? value) => Succeeded?.DestinationHostId is null ? null : value;

    // A whole-VM move's own events: the VM described and started paused on the destination, QEMU's memory migration.
    private (string Phase, string Line) WholeVm(object message)
    {
        switch (message)
        {
            case VmDescribed d:
                return ("prepare", $"VM {d.VmId} described by host {d.HostId}: {Operator.Bytes(d.Definition.MemoryBytes)} of memory");
            case IncomingVmPrepared p:
                return ("copy", $"incoming VM started paused on host {p.HostId}");
            case MemoryMigrationProgress p:
                return ("memory", $"{Operator.Bytes(p.TransferredBytes)} sent, {Operator.Bytes(p.RemainingBytes)} left, {p.DirtyPagesRate} dirty pages/s, " +
                                  $"expected downtime {p.ExpectedDowntimeMilliseconds} ms");
            case MemoryPreSwitchover p:
                _pausedAt = p.PausedAt;
                return ("cut-over", "source vCPUs stopped (pre-switchover): final disk sync");
            default:
                var m = (VmMemoryMigrated)message;
                return ("cut-over", $"memory moved: {Operator.Bytes(m.MemoryBytes)}, QEMU's downtime {Operator.Millis(m.QemuDowntimeMilliseconds)}");
        }
    }

    private static string AfterPause(double? ms) => ms is { } v ? $" ({Operator.Millis(v)} after the pause)" : "";
}
