using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>The saga's phase names (docs/saga.md) for TransferFailed, from where a session stood.</summary>
internal static class StoragePhases
{
    public const string Prepare = "Prepare";
    public const string Index = "Index";
    public const string Request = "Request";
    public const string Copy = "Copy";
    public const string CutOver = "CutOver";

    public static string Of(TransferPhase phase) => phase switch
    {
        TransferPhase.Connecting or TransferPhase.Index => Index,
        TransferPhase.Request => Request,
        TransferPhase.Copy or TransferPhase.Converged => Copy,
        _ => CutOver,
    };
}
