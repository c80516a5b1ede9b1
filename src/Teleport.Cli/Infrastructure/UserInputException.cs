namespace Teleport.Cli.Infrastructure;

/// <summary>An error the caller can fix; reported as one line with exit code 2.</summary>
public sealed class UserInputException(string message) : Exception(message);
