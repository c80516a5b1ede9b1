using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>The phase a storage worker reports in TransferFailed (the contracts' <see cref="MigrationPhases"/>), from where a session stood.</summary>
internal static class StoragePhases
{
    public static string Of(TransferPhase phase) => phase switch
    {
        TransferPhase.Connecting or TransferPhase.Index => MigrationPhases.Index,
        TransferPhase.Request => MigrationPhases.Request,
        TransferPhase.Copy or TransferPhase.Converged => MigrationPhases.Copy,
        _ => MigrationPhases.CutOver,
    };
}
