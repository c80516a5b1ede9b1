using Microsoft.Extensions.Logging;

namespace Teleport.Nbd.Server;

/// <summary>Log messages of NBD over TLS and export authorisation (source-generated).</summary>
internal static partial class NbdTlsLog
{
    [LoggerMessage(40, LogLevel.Debug, "NBD client {Remote} started TLS as '{Identity}'")]
    public static partial void Established(ILogger logger, string remote, string identity);

    [LoggerMessage(41, LogLevel.Warning, "NBD client {Remote} refused in the TLS handshake: {Reason}")]
    public static partial void Refused(ILogger logger, string remote, string reason);

    [LoggerMessage(42, LogLevel.Warning, "NBD client {Remote} ('{Identity}') is not allowed export {Export}")]
    public static partial void ExportDenied(ILogger logger, string remote, string identity, string export);
}
