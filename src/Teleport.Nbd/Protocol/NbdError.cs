namespace Teleport.Nbd.Protocol;

/// <summary>Error values of NBD replies (the protocol's fixed errno numbers).</summary>
public enum NbdError : uint
{
    None = 0,
    NotPermitted = 1,      // EPERM
    IoError = 5,           // EIO
    OutOfMemory = 12,      // ENOMEM
    InvalidArgument = 22,  // EINVAL
    NoSpace = 28,          // ENOSPC
    Overflow = 75,         // EOVERFLOW
    NotSupported = 95,     // ENOTSUP
    Shutdown = 108,        // ESHUTDOWN
}
