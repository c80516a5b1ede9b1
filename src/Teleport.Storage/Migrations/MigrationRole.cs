namespace Teleport.Storage.Migrations;

/// <summary>Which side of a migration this worker plays.</summary>
public enum MigrationRole
{
    Source,
    Destination,
}
