using Teleport.Nbd.Client;
using Teleport.Nbd.Server;

namespace Teleport.Host.Switching;

/// <summary>Timeouts of a <see cref="PathSwitcher"/>.</summary>
public sealed class PathSwitcherOptions
{
    /// <summary>How long an upstream connection waits for a missing export by default (see <see cref="Client"/>).</summary>
    public static readonly TimeSpan DefaultExportWait = TimeSpan.FromSeconds(5);

    /// <summary>Longest wait for requests in flight to finish before a switch gives up (and keeps the old upstream).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time for connecting and negotiating with an upstream.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a request hit by a lost upstream waits for the reconnect before it fails with EIO. Reconnect
    /// attempts go on after that; later requests wait again.
    /// </summary>
    public TimeSpan RequestRetryWindow { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>First back-off between reconnect attempts; it doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Options of the local NBD server QEMU connects to.</summary>
    public NbdServerOptions Server { get; init; } = new();

    /// <summary>
    /// Options of the upstream connections. By default a missing export is asked for again on the same connection for
    /// up to 5 s: a switch is sent together with the final sync, and the destination exports the volume only once it
    /// is verified; re-asking costs one round trip, where a new connection costs four (TCP, greeting, options, go).
    /// </summary>
    public NbdClientOptions Client { get; init; } = new() { ExportWait = DefaultExportWait };
}
