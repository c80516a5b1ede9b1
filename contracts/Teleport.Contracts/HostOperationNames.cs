namespace Teleport.Contracts;

/// <summary>The values of <see cref="HostOperationFailed.Operation"/>: which host operation failed.</summary>
public static class HostOperationNames
{
    public const string Pause = "pause";
    public const string Switch = "switch";
    public const string SwitchBack = "switch back";
    public const string Resume = "resume";

    /// <summary>The host ended a pause that outlived PauseVm's budget: the VM runs on the source again.</summary>
    public const string PauseBudget = "pause budget";
    public const string Describe = "describe";
    public const string PrepareIncoming = "prepare incoming";
    public const string MigrateMemory = "migrate memory";
    public const string ContinueMemory = "continue memory";
    public const string DiscardIncoming = "discard incoming";
    public const string StopSource = "stop source";

    /// <summary>A VM's disk path lost its upstream outside any migration (MigrationId is empty).</summary>
    public const string Upstream = "upstream";
}
