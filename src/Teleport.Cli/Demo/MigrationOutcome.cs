using Teleport.Contracts;

namespace Teleport.Cli.Demo;

/// <summary>How the saga ended the demo's migration: exactly one of the two events.</summary>
public sealed record MigrationOutcome(MigrationSucceeded? Succeeded, MigrationFailed? Failed)
{
    public bool IsSuccess => Succeeded is not null;
}
