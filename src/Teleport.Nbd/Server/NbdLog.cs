using System.Net;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>Log messages of the NBD server (source-generated, no allocation when disabled).</summary>
internal static partial class NbdLog
{
    [LoggerMessage(1, LogLevel.Information, "NBD server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(2, LogLevel.Debug, "NBD client {Remote} connected")]
    public static partial void Connected(ILogger logger, string remote);

    [LoggerMessage(3, LogLevel.Information, "NBD client {Remote} attached to export {Export} (structured replies: {Structured})")]
    public static partial void Attached(ILogger logger, string remote, string export, bool structured);

    [LoggerMessage(4, LogLevel.Warning, "NBD client {Remote} broke the handshake: {Reason}")]
    public static partial void HandshakeViolation(ILogger logger, string remote, string reason);

    [LoggerMessage(5, LogLevel.Debug, "NBD client {Remote} option {Option} refused with {Reply}: {Reason}")]
    public static partial void OptionRefused(ILogger logger, string remote, NbdOption option, NbdOptionReplyType reply, string reason);

    [LoggerMessage(6, LogLevel.Debug, "NBD client {Remote} request {Command} cookie {Cookie} rejected with {Error}: {Reason}")]
    public static partial void RequestRejected(ILogger logger, string remote, NbdCommand command, ulong cookie, NbdError error, string? reason);

    [LoggerMessage(7, LogLevel.Warning, "NBD client {Remote} sent a request with a bad magic; closing")]
    public static partial void BadRequestMagic(ILogger logger, string remote);

    [LoggerMessage(8, LogLevel.Warning, "NBD client {Remote} disconnected in the middle of a {Command} of {Length} bytes; nothing was written")]
    public static partial void TruncatedRequest(ILogger logger, string remote, NbdCommand command, uint length);

    [LoggerMessage(16, LogLevel.Warning, "NBD client {Remote} did not send the {Length}-byte payload of its {Command} within {Timeout}; closing, nothing was written")]
    public static partial void StalledPayload(ILogger logger, string remote, NbdCommand command, uint length, TimeSpan timeout);

    [LoggerMessage(9, LogLevel.Debug, "NBD client {Remote} disconnected")]
    public static partial void Disconnected(ILogger logger, string remote);

    [LoggerMessage(10, LogLevel.Warning, "NBD request {Command} at {Offset}+{Length} on export {Export} failed with {Error}")]
    public static partial void CommandFailed(ILogger logger, Exception exception, NbdCommand command, ulong offset, uint length, string export, NbdError error);

    [LoggerMessage(11, LogLevel.Debug, "NBD reply to {Remote} could not be sent; connection is gone")]
    public static partial void ReplyFailed(ILogger logger, Exception exception, string remote);

    [LoggerMessage(12, LogLevel.Warning, "NBD connection {Remote} ended with an error")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, string remote);

    [LoggerMessage(13, LogLevel.Warning, "NBD request {Command} of {Length} bytes closes the connection of {Remote}: {Reason}")]
    public static partial void RequestClosesConnection(ILogger logger, NbdCommand command, uint length, string remote, string? reason);

    [LoggerMessage(14, LogLevel.Warning, "NBD connection {Remote} closed: {Reason}")]
    public static partial void ConnectionAborted(ILogger logger, string remote, string reason);

    [LoggerMessage(15, LogLevel.Warning, "NBD connection from {Remote} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, string remote, string reason);
}
