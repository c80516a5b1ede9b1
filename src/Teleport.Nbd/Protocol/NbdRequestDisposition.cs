namespace Teleport.Nbd.Protocol;

/// <summary>What the server does with a request after validation.</summary>
public enum NbdRequestDisposition
{
    /// <summary>Valid: run it.</summary>
    Execute,

    /// <summary>Reply with the error; a WRITE payload is read and dropped first; the connection stays usable.</summary>
    Reject,

    /// <summary>Reply with the error and close: the payload length cannot be trusted.</summary>
    RejectAndClose,

    /// <summary>NBD_CMD_DISC: finish in-flight requests and close, no reply.</summary>
    Disconnect,
}
