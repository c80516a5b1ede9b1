namespace Teleport.Host.Switching;

/// <summary>A switch was refused or failed; the path switcher still uses its previous upstream.</summary>
public sealed class PathSwitchException(string message, PathSwitchFailure failure, Exception? inner = null) : Exception(message, inner)
{
    public PathSwitchFailure Failure { get; } = failure;

    /// <summary>The new upstream may accept a later attempt (it was unreachable or did not export the volume yet).</summary>
    public bool IsTransient => Failure is PathSwitchFailure.Unreachable or PathSwitchFailure.NoSuchExport;
}
