using System.Net;
using Microsoft.Extensions.Logging;
using Teleport.Host.Relay;
using Teleport.Host.Worker;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Moves;

/// <summary>Starts a VM's memory relay from the host's settings: its socket in the state directory, its TLS, its recovery window.</summary>
internal static class MemoryRelays
{
    /// <summary>
    /// The source's relay to <paramref name="endpoint"/> (a configured peer's, checked by the caller), retaining what
    /// the move's bandwidth cap needs in flight (<see cref="RelaySettings.RetainBytesFor"/>).
    /// </summary>
    public static OutgoingMemoryRelay StartOutgoing(HostWorkerOptions options, string vmId, string endpoint, long? bandwidthBytesPerSecond, ILogger log)
    {
        if (!TcpAddress.TryParse(endpoint, out var destination))
            throw new HostOperationException($"migration endpoint '{endpoint}' is not HOST:PORT");
        Directory.CreateDirectory(options.StateDirectory);
        var settings = Settings(options, vmId, log, NbdTlsCredentials.ForClient) with { RetainBytes = RelaySettings.RetainBytesFor(bandwidthBytesPerSecond) };
        return OutgoingMemoryRelay.Start(SocketPath(options, vmId), destination.Host.Trim('[', ']'), destination.Port, settings);
    }

    /// <summary>The destination's relay on Host:MigrationListen, to the incoming QEMU's <paramref name="qemuSocket"/>.</summary>
    public static IncomingMemoryRelay StartIncoming(HostWorkerOptions options, string vmId, string qemuSocket, ILogger log)
    {
        TcpAddress.TryParse(options.MigrationListen, out var listen);
        string host = listen.Host.Trim('[', ']');
        var address = IPAddress.TryParse(host, out var ip) ? ip : Dns.GetHostAddresses(host)[0];
        var settings = Settings(options, vmId, log, NbdTlsCredentials.ForServer);
        return IncomingMemoryRelay.Start(new IPEndPoint(address, listen.Port), qemuSocket, settings);
    }

    /// <summary>Where a VM's QEMU migrates to (source) or listens for its stream (destination).</summary>
    public static string SocketPath(HostWorkerOptions options, string vmId) => Path.Combine(options.StateDirectory, vmId + ".migrate.sock");

    private static RelaySettings Settings(HostWorkerOptions options, string vmId, ILogger log, Func<string, NbdTlsCredentials> load)
    {
        NbdTlsCredentials? tls = null;
        if (options.MigrationTlsDirectory is { } directory)
        {
            try
            {
                tls = load(directory);
            }
            catch (InvalidDataException e)
            {
                throw new HostOperationException($"Host:MigrationTlsDirectory: {e.Message}");
            }
        }

        return new RelaySettings(vmId, options.MigrationRecoveryWindow, tls, log);
    }
}
