namespace Teleport.Host.Hypervisor;

/// <summary>Timeouts and limits of a <see cref="QmpClient"/>.</summary>
public sealed class QmpOptions
{
    /// <summary>Time for connecting, the greeting and capabilities negotiation.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time QEMU has to answer one command.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest QMP message accepted; a longer line closes the connection.</summary>
    public int MaxMessageLength { get; init; } = 1024 * 1024;
}
