namespace Teleport.Host.Hypervisor;

/// <summary>Timeouts and limits of a <see cref="QmpClient"/>.</summary>
public sealed class QmpOptions
{
    /// <summary>Time for connecting, the greeting and capabilities negotiation.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time QEMU has to answer one command.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a <c>cont</c> on an incoming VM waits for the migration's last bytes to be loaded (QEMU then starts the VM
    /// by itself); past it the VM is stopped and the resume fails.
    /// </summary>
    public TimeSpan IncomingCompletionTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest QMP message accepted; a longer line closes the connection.</summary>
    public int MaxMessageLength { get; init; } = 1024 * 1024;
}
