using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;

namespace Teleport.Host.Switching;

/// <summary>
/// Classifies upstream failures: a lost connection is retried after reconnecting; an error the upstream
/// server answered with is handed to the local client with the same errno (through the exception types the
/// local NBD server maps).
/// </summary>
internal static class UpstreamErrors
{
    private const int ENOSPC = 28;

    public static bool IsConnectionLoss(Exception e) => e is NbdConnectionException or NbdProtocolException;

    public static Exception Translate(NbdCommandException e) => e.Error switch
    {
        NbdError.NoSpace => new IOException($"upstream: {e.Message}", e) { HResult = ENOSPC },
        NbdError.InvalidArgument => new ArgumentException($"upstream: {e.Message}", e),
        NbdError.NotPermitted => new UnauthorizedAccessException($"upstream: {e.Message}", e),
        _ => new IOException($"upstream: {e.Message}", e),
    };
}
