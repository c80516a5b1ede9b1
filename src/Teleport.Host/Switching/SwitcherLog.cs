using Microsoft.Extensions.Logging;

namespace Teleport.Host.Switching;

internal static partial class SwitcherLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Path switcher for {Export} listening on {LocalEndPoint}, upstream {Upstream}, {Size} bytes")]
    public static partial void Started(ILogger logger, string export, object localEndPoint, UpstreamTarget upstream, long size);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Switched {Export} from {From} to {To} in {TotalMs:0.###} ms (requests held {BlockedMs:0.###} ms, export selected before {Preselected}, old upstream flushed {FlushedOld})")]
    public static partial void Switched(ILogger logger, string export, UpstreamTarget from, UpstreamTarget to, double totalMs, double blockedMs, bool preselected, bool flushedOld);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Switch of {Export} to {To} refused: {Reason}")]
    public static partial void SwitchRefused(ILogger logger, string export, UpstreamTarget to, string reason);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error, Message = "Upstream {Upstream} lost; reconnecting")]
    public static partial void UpstreamLost(ILogger logger, Exception cause, UpstreamTarget upstream);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Reconnect {Attempt} to {Upstream} failed: {Reason}")]
    public static partial void ReconnectFailed(ILogger logger, UpstreamTarget upstream, int attempt, string reason);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "Upstream {Upstream} restored after {Attempt} attempt(s)")]
    public static partial void UpstreamRestored(ILogger logger, UpstreamTarget upstream, int attempt);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Error, Message = "An UpstreamChanged subscriber failed on {Kind}")]
    public static partial void SubscriberFailed(ILogger logger, Exception exception, UpstreamEventKind kind);
}
