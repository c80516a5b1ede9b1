using System.Security.Authentication;

namespace Teleport.Host.Switching;

/// <summary>A switch was refused or failed; the path switcher still uses its previous upstream.</summary>
public sealed class PathSwitchException(string message, PathSwitchFailure failure, Exception? inner = null) : Exception(message, inner)
{
    public PathSwitchFailure Failure { get; } = failure;

    /// <summary>The new upstream may accept a later attempt (it was unreachable or did not export the volume yet).</summary>
    public bool IsTransient => Failure is PathSwitchFailure.Unreachable or PathSwitchFailure.NoSuchExport;

    /// <summary>
    /// Why connecting failed: a failed authentication anywhere in the chain is final (a peer that merely closed the
    /// connection during the handshake may be restarting, so that one is not); anything else may pass.
    /// </summary>
    internal static PathSwitchFailure OfConnect(Exception e)
    {
        for (var cause = e; cause is not null; cause = cause.InnerException)
        {
            if (cause is AuthenticationException { InnerException: not EndOfStreamException })
                return PathSwitchFailure.Refused;
        }

        return PathSwitchFailure.Unreachable;
    }
}
