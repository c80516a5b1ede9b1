using System.Runtime.ExceptionServices;

namespace Teleport.Transfer.Source;

/// <summary>How one connection of the source ended: its reading, sending and watchdog tasks weighed together.</summary>
internal static class ConnectionOutcome
{
    /// <summary>The connection's result, or the error that best explains its end.</summary>
    public static TransferResult Of(Task reader, Task<TransferResult> sender, Task watchdog, CancellationToken ct)
    {
        if (sender.IsCompletedSuccessfully)
            return sender.Result;
        if (watchdog.Exception?.InnerException is { } silence)
            ExceptionDispatchInfo.Throw(silence);
        // Prefer what the peer reported (or a protocol error) over the lost connection or cancellation it caused.
        var readerError = reader.Exception?.InnerException;
        var senderError = sender.Exception?.InnerException;
        if (readerError is TransferException { Code: not TransferErrorCode.ConnectionLost })
            ExceptionDispatchInfo.Throw(readerError);
        if (senderError is not null and not OperationCanceledException)
            ExceptionDispatchInfo.Throw(senderError);
        if (readerError is not null and not OperationCanceledException)
            ExceptionDispatchInfo.Throw(readerError);
        ct.ThrowIfCancellationRequested();
        throw TransferException.Lost("connection ended");
    }
}
