namespace Teleport.Nbd.Protocol;

/// <summary>Result of validating a request: what to do and which error to send.</summary>
public readonly record struct NbdValidation(NbdRequestDisposition Disposition, NbdError Error, string? Reason)
{
    public static NbdValidation Ok => new(NbdRequestDisposition.Execute, NbdError.None, null);

    public static NbdValidation Reject(NbdError error, string reason) => new(NbdRequestDisposition.Reject, error, reason);
}
