using Teleport.Contracts;
using Teleport.Transfer;

namespace Teleport.Storage.Migrations;

/// <summary>The phase a storage worker reports in TransferFailed (the contracts' <see cref="MigrationPhases"/>), from where a session stood.</summary>
internal static class StoragePhases
{
    // The phases a storage side can fail in, named as the contracts name them.
    public const string Prepare = MigrationPhases.Prepare;
    public const string Index = MigrationPhases.Index;
    public const string Request = MigrationPhases.Request;
    public const string Copy = MigrationPhases.Copy;
    public const string CutOver = MigrationPhases.CutOver;

    public static string Of(TransferPhase phase) => phase switch
    {
        TransferPhase.Connecting or TransferPhase.Index => MigrationPhases.Index,
        TransferPhase.Request => MigrationPhases.Request,
        TransferPhase.Copy or TransferPhase.Converged => MigrationPhases.Copy,
        _ => MigrationPhases.CutOver,
    };
}
