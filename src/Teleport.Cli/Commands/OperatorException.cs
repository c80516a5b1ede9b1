namespace Teleport.Cli.Commands;

/// <summary>An operator command could not do its work (broker unreachable, the migration failed): one line, exit code 1.</summary>
public sealed class OperatorException(string message) : Exception(message);
