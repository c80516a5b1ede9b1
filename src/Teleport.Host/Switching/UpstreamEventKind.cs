namespace Teleport.Host.Switching;

public enum UpstreamEventKind
{
    /// <summary>The upstream connection broke outside a switch; reconnecting starts.</summary>
    Lost,

    /// <summary>One reconnect attempt failed; another follows after a back-off.</summary>
    ReconnectFailed,

    /// <summary>A new connection to the same upstream is in use again.</summary>
    Restored,
}
