using Teleport.Host.Worker;

namespace Teleport.Host.Moves;

/// <summary>Checks the whole-VM move settings of <see cref="HostWorkerOptions"/> (kept apart so that class stays small).</summary>
internal static class VmMoveSettings
{
    // A VM in post-copy waits on its missing pages for as long as this: an hour is already more than any guest tolerates.
    private static readonly TimeSpan MaxRecoveryWindow = TimeSpan.FromHours(1);

    private static bool IsLoopback(string host) =>
        host == "localhost" || (System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <exception cref="ArgumentException">Names the first bad setting.</exception>
    public static void Validate(HostWorkerOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.QemuBinary))
            throw new ArgumentException("Host:QemuBinary is required (the qemu-system binary incoming VMs run on)");
        if (!Path.IsPathRooted(options.StateDirectory))
            throw new ArgumentException($"Host:StateDirectory '{options.StateDirectory}' must be an absolute path");
        if (!TcpAddress.TryParse(options.MigrationListen, out var listen))
            throw new ArgumentException($"Host:MigrationListen '{options.MigrationListen}' must be ADDR:PORT (port 0: QEMU picks one)");
        if (options.MigrationAdvertise is null && TcpAddress.IsWildcard(listen.Host))
            throw new ArgumentException($"Host:MigrationAdvertise is required when Host:MigrationListen is the wildcard '{listen.Host}'");
        if (options.MigrationAdvertise is { } advertise && !TcpAddress.IsHostName(advertise))
            throw new ArgumentException($"Host:MigrationAdvertise '{advertise}' must be a host name or address");
        if (options.MigrationTlsDirectory is { } tls && !Path.IsPathRooted(tls))
            throw new ArgumentException($"Host:MigrationTlsDirectory '{tls}' must be an absolute path");
        if (options.MigrationTlsDirectory is null && !options.MigrationInsecure && !IsLoopback(listen.Host))
            throw new ArgumentException($"Host:MigrationListen '{options.MigrationListen}' is reachable from the network: set " +
                "Host:MigrationTlsDirectory (the relay authenticates the source's certificate), or Host:MigrationInsecure to accept plain streams");
        foreach (var (peer, address) in options.Peers)
        {
            if (!HostWorkerOptions.IsSafeId(peer) || !TcpAddress.IsHostName(address))
                throw new ArgumentException($"Host:Peers:{peer} = '{address}': a peer is a host id and its address");
        }

        foreach (string directory in options.BootFileDirectories)
        {
            if (!Path.IsPathRooted(directory))
                throw new ArgumentException($"Host:BootFileDirectories entry '{directory}' must be an absolute path");
        }

        if (options.MigrationRecoveryWindow <= TimeSpan.Zero || options.MigrationRecoveryWindow > MaxRecoveryWindow)
            throw new ArgumentException($"Host:MigrationRecoveryWindow '{options.MigrationRecoveryWindow}' must be positive and at most {MaxRecoveryWindow.TotalMinutes:0} minutes");
        if (options.MemoryProgressInterval <= TimeSpan.Zero)
            throw new ArgumentException("Host:MemoryProgressInterval must be positive");
    }
}
