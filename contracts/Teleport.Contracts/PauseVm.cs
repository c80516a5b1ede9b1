namespace Teleport.Contracts;

/// <summary>Command to the host worker: pause the VM so its disk stops changing for the cut-over.</summary>
/// <remarks>
/// Attempt: which attempt of the migration this belongs to (a retry starts the next); workers echo the command's attempt so the saga can ignore late answers of an earlier one.
/// NextStorageId / NextNbdEndpoint / NextExportName: where the SwitchTarget will lead; the host opens (and authenticates) a connection there
/// before pausing, so the switch needs no new one (the endpoint is resolved from the host's configuration, as for SwitchTarget).
/// PauseBudgetMilliseconds: the longest the VM may stay paused; if the cut-over (switch and resume) has not completed by then, the host
/// switches the path back if it had moved, resumes the VM on the source and publishes HostOperationFailed("pause budget"). Null: no bound.
/// CutOverVolumeId: set for a fenced storage-only cut-over the host carries itself: after the pause it sends FinalSync for this volume to
/// the storage its disk path leads to (by its configuration), switches to the Next* export once the destination serves it and resumes the
/// VM there, publishing VmPaused, TargetSwitched and VmResumed as they happen; the saga's own SwitchTarget, FinalSync and ResumeVm are
/// then answered as duplicates. Null: the saga drives each step.
/// </remarks>
public sealed record PauseVm(
    Guid MigrationId,
    string VmId,
    string HostId,
    int Attempt = 1,
    string? NextStorageId = null,
    string? NextNbdEndpoint = null,
    string? NextExportName = null,
    int? PauseBudgetMilliseconds = null,
    string? CutOverVolumeId = null);
