using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>Maps an exception from an export to the protocol's error values.</summary>
internal static class NbdErrorMapper
{
    private const int ENOSPC = 28;
    private const int EFBIG = 27;
    private const int EDQUOT = 122;

    public static NbdError Map(Exception exception) => exception switch
    {
        UnauthorizedAccessException => NbdError.NotPermitted,
        ArgumentException => NbdError.InvalidArgument,
        OperationCanceledException => NbdError.Shutdown,
        IOException { HResult: ENOSPC or EFBIG or EDQUOT } => NbdError.NoSpace,
        OutOfMemoryException => NbdError.OutOfMemory,
        _ => NbdError.IoError,
    };
}
