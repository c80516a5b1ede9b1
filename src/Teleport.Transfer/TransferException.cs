namespace Teleport.Transfer;

/// <summary>
/// A data-channel failure. <see cref="Remote"/> is true when the peer reported it in an Error frame.
/// Everything except <see cref="TransferErrorCode.ConnectionLost"/> is fatal for the session.
/// </summary>
public sealed class TransferException : Exception
{
    public TransferException(TransferErrorCode code, string message, bool remote = false, Exception? inner = null)
        : base((remote ? "peer reported " : "") + $"{code}: {message}", inner)
    {
        Code = code;
        Remote = remote;
        Detail = message;
    }

    public TransferErrorCode Code { get; }

    public bool Remote { get; }

    /// <summary>The message without the code prefix (what goes into an Error frame).</summary>
    public string Detail { get; }

    internal static TransferException Lost(string message, Exception? inner = null) =>
        new(TransferErrorCode.ConnectionLost, message, false, inner);
}
