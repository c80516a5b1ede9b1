namespace Teleport.Cli.Tests;

/// <summary>Tests that run an orchestrator on the shared broker run one at a time: each consumes every published MigrationRequested.</summary>
[CollectionDefinition(Name)]
public sealed class OrchestratorCollection
{
    public const string Name = "orchestrator on the broker";
}
