namespace Teleport.Host.Switching;

/// <summary>Why a switch (or connecting an upstream) failed; tells a caller whether trying again later can help.</summary>
public enum PathSwitchFailure
{
    /// <summary>The upstream could not be reached or did not finish the handshake (it may come up shortly).</summary>
    Unreachable,

    /// <summary>The upstream runs but has no such export (yet: a destination exports a volume once it is complete).</summary>
    NoSuchExport,

    /// <summary>The upstream and this host did not authenticate each other (TLS or PSK): final until the configuration changes.</summary>
    Refused,

    /// <summary>The export cannot stand in for the volume (size, writability, request size): trying again will not help.</summary>
    Mismatch,

    /// <summary>Requests did not drain in time or the old upstream could not flush; the old upstream stays.</summary>
    OldUpstream,
}
