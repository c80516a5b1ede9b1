using Microsoft.Extensions.Logging;

namespace Teleport.Host.Worker;

internal static partial class HostWorkerLog
{
    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "VM {VmId}: disk path listening on {Listen}, upstream {Upstream} export {Export}")]
    public static partial void DiskPathReady(ILogger logger, string vmId, object listen, string upstream, string export);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Warning, Message = "VM {VmId}: disk path not up yet: {Reason}; trying again")]
    public static partial void DiskPathNotReady(ILogger logger, string vmId, string reason);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Information, Message = "VM {VmId} paused for {Operation} ({Milliseconds:0.###} ms)")]
    public static partial void Paused(ILogger logger, string vmId, OperationKey operation, double milliseconds);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "VM {VmId} disk path switched to {Target} (storage {StorageId}) in {Milliseconds:0.###} ms, {Attempts} attempt(s)")]
    public static partial void Switched(ILogger logger, string vmId, object target, string storageId, double milliseconds, int attempts);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Information, Message = "VM {VmId} disk path switched back to {Target} (storage {StorageId})")]
    public static partial void SwitchedBack(ILogger logger, string vmId, object target, string storageId);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Information, Message = "VM {VmId} resumed for {Operation} ({Milliseconds:0.###} ms)")]
    public static partial void Resumed(ILogger logger, string vmId, OperationKey operation, double milliseconds);

    [LoggerMessage(EventId = 5115, Level = LogLevel.Information, Message = "VM {VmId}: incoming {Part} ready {Milliseconds:0.###} ms after the resume began")]
    public static partial void IncomingPartReady(ILogger logger, string vmId, string part, double milliseconds);

    [LoggerMessage(EventId = 5107, Level = LogLevel.Information, Message = "VM {VmId}: repeated {Command} of {Operation} answered again")]
    public static partial void Repeated(ILogger logger, string vmId, string command, OperationKey operation);

    [LoggerMessage(EventId = 5108, Level = LogLevel.Error, Message = "VM {VmId}: {Operation} failed: {Reason}")]
    public static partial void OperationFailed(ILogger logger, string vmId, string operation, string reason);

    [LoggerMessage(EventId = 5109, Level = LogLevel.Information, Message = "VM {VmId}: switch to {Target} not possible yet ({Reason}); retrying for up to {WindowSeconds:0.#} s")]
    public static partial void SwitchWaiting(ILogger logger, string vmId, object target, string reason, double windowSeconds);

    [LoggerMessage(EventId = 5110, Level = LogLevel.Warning, Message = "VM {VmId}: switch of {Operation} stopped by its switch back")]
    public static partial void SwitchCancelled(ILogger logger, string vmId, OperationKey operation);

    [LoggerMessage(EventId = 5111, Level = LogLevel.Error, Message = "VM {VmId}: upstream {Upstream} {Kind} (attempt {Attempt}): {Reason}")]
    public static partial void UpstreamTrouble(ILogger logger, string vmId, object upstream, object kind, int attempt, string reason);

    [LoggerMessage(EventId = 5112, Level = LogLevel.Information, Message = "VM {VmId}: upstream {Upstream} restored after {Attempt} attempt(s)")]
    public static partial void UpstreamRestored(ILogger logger, string vmId, object upstream, int attempt);

    [LoggerMessage(EventId = 5113, Level = LogLevel.Warning, Message = "Could not publish the upstream report of VM {VmId}")]
    public static partial void ReportFailed(ILogger logger, Exception exception, string vmId);

    [LoggerMessage(EventId = 5114, Level = LogLevel.Information, Message = "VM {VmId}: repeated SwitchTarget of {Operation} joins the switch still pending")]
    public static partial void SwitchJoined(ILogger logger, string vmId, OperationKey operation);

    [LoggerMessage(EventId = 5160, Level = LogLevel.Information, Message = "VM {VmId}: connection to {Target} opened ahead of the switch, export selected {Selected} ({Milliseconds:0.###} ms)")]
    public static partial void Preconnected(ILogger logger, string vmId, object target, bool selected, double milliseconds);

    [LoggerMessage(EventId = 5161, Level = LogLevel.Warning, Message = "VM {VmId}: no connection to storage {StorageId} ahead of the switch ({Reason}); the switch will connect")]
    public static partial void PreconnectFailed(ILogger logger, string vmId, string storageId, string reason);

    [LoggerMessage(EventId = 5162, Level = LogLevel.Warning, Message = "VM {VmId}: pause of {Operation} outlived its budget of {BudgetMs:0} ms; resumed on the source (switched back: {SwitchedBack}) in {Milliseconds:0.###} ms")]
    public static partial void PauseBudgetSpent(ILogger logger, string vmId, OperationKey operation, double budgetMs, bool switchedBack, double milliseconds);

    [LoggerMessage(EventId = 5163, Level = LogLevel.Warning, Message = "The broker did not take the host's own report or command ({Reason}); trying again in {DelayMs:0} ms")]
    public static partial void BusRetry(ILogger logger, string reason, double delayMs);

    [LoggerMessage(EventId = 5140, Level = LogLevel.Information, Message = "VM {VmId}: storage {StorageId} is at {Configured} by this host's configuration; the command's {Offered} is not used")]
    public static partial void ConfiguredUpstream(ILogger logger, string vmId, string storageId, string configured, string offered);

    [LoggerMessage(EventId = 5164, Level = LogLevel.Information, Message = "VM {VmId}: cut-over of {Operation} carried by the host: FinalSync to storage {SourceStorageId}, switching to storage {NextStorageId}")]
    public static partial void LocalCutOver(ILogger logger, string vmId, OperationKey operation, string sourceStorageId, string nextStorageId);

    [LoggerMessage(EventId = 5167, Level = LogLevel.Information, Message = "VM {VmId}: the host's cut-over of {Operation} from 'stop': paused +{PausedMs:0.#} ms, switched +{SwitchedMs:0.#} ms, resumed +{ResumedMs:0.#} ms; after 'stop' answered, {JitMethods} method(s) JIT-compiled ({JitMs:0.#} ms) and {Collections} collection(s) ({GcMs:0.#} ms paused) in this process")]
    public static partial void CutOverTimeline(ILogger logger, string vmId, OperationKey operation, double pausedMs, double switchedMs, double resumedMs,
        long jitMethods, double jitMs, int collections, double gcMs);

    [LoggerMessage(EventId = 5165, Level = LogLevel.Information, Message = "VM {VmId}: the host's cut-over of {Operation} stopped at {Step}: {Outcome}")]
    public static partial void LocalCutOverStopped(ILogger logger, string vmId, OperationKey operation, string step, string outcome);

    [LoggerMessage(EventId = 5166, Level = LogLevel.Warning, Message = "The broker did not take the host's {Command} for storage {StorageId} ({Reason}); the saga's own one starts the step")]
    public static partial void SendRefused(ILogger logger, string command, string storageId, string reason);

    [LoggerMessage(EventId = 5168, Level = LogLevel.Information, Message = "Rehearsed the cut-over on private parts (no VM, export or bus touched): {JitMethods} method(s) JIT-compiled in {TookMs:0.#} ms, no longer in a VM's first pause")]
    public static partial void Rehearsed(ILogger logger, long jitMethods, double tookMs);

    [LoggerMessage(EventId = 5169, Level = LogLevel.Warning, Message = "The cut-over's rehearsal on private parts failed after {TookMs:0.#} ms ({Reason}); nothing else is affected, the first real cut-over compiles what it needs")]
    public static partial void RehearsalFailed(ILogger logger, string reason, double tookMs);

    [LoggerMessage(EventId = 5170, Level = LogLevel.Warning, Message = "VM {VmId}: memory post-copy started for attempt {Key} ({Reason}; {RemainingBytes} bytes dirty): from migrate-continue on, the source cannot resume")]
    public static partial void PostCopyStarted(ILogger logger, string vmId, OperationKey key, string reason, long remainingBytes);

    [LoggerMessage(EventId = 5171, Level = LogLevel.Information, Message = "VM {VmId}: memory relay channel {Channel} open to {Peer}")]
    public static partial void RelayChannelOpened(ILogger logger, string vmId, int channel, string peer);

    [LoggerMessage(EventId = 5172, Level = LogLevel.Warning, Message = "VM {VmId}: memory relay channel {Channel}'s link broke ({Reason}); QEMU's connection stays open, {HeldBytes} unacknowledged bytes held; resuming within {WindowSeconds:0.#} s")]
    public static partial void RelayLinkBroke(ILogger logger, string vmId, int channel, string reason, long heldBytes, double windowSeconds);

    [LoggerMessage(EventId = 5173, Level = LogLevel.Warning, Message = "VM {VmId}: memory relay channel {Channel} resumed after {AfterMs:0} ms: {ResentBytes} bytes sent again, {ReceivedBytes} received so far")]
    public static partial void RelayLinkResumed(ILogger logger, string vmId, int channel, double afterMs, long resentBytes, long receivedBytes);

    [LoggerMessage(EventId = 5174, Level = LogLevel.Error, Message = "VM {VmId}: memory relay channel {Channel}'s link did not come back within {WindowSeconds:0.#} s: QEMU's connection is closed ({HeldBytes} bytes undelivered)")]
    public static partial void RelayRecoveryExpired(ILogger logger, string vmId, int channel, double windowSeconds, long heldBytes);

    [LoggerMessage(EventId = 5175, Level = LogLevel.Warning, Message = "VM {VmId}: memory relay refused a connection from {Remote}: {Reason} (nothing forwarded to QEMU)")]
    public static partial void RelayRefused(ILogger logger, string vmId, string remote, string reason);

    [LoggerMessage(EventId = 5176, Level = LogLevel.Error, Message = "VM {VmId}: memory relay channel {Channel} failed: {Reason}; QEMU's connection is closed")]
    public static partial void RelayChannelFailed(ILogger logger, string vmId, int channel, string reason);

    [LoggerMessage(EventId = 5177, Level = LogLevel.Debug, Message = "VM {VmId}: memory relay could not reconnect yet: {Reason}")]
    public static partial void RelayReconnectFailed(ILogger logger, string vmId, string reason);

    [LoggerMessage(EventId = 5178, Level = LogLevel.Information, Message = "VM {VmId}: memory relay stopped listening on port {Port}: its {Channels} channel(s) ended")]
    public static partial void RelayStoppedListening(ILogger logger, string vmId, int port, int channels);

    [LoggerMessage(EventId = 5179, Level = LogLevel.Information, Message = "VM {VmId}: memory relay channel {Channel} resumed to find it delivered both ways (the link broke after the last byte)")]
    public static partial void RelayFoundDelivered(ILogger logger, string vmId, int channel);
}
