namespace Teleport.Cli.Infrastructure;

/// <summary>Process exit codes, stable for scripts.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    /// <summary>Something went wrong that is not the caller's input.</summary>
    public const int Failure = 1;
    /// <summary>Bad arguments, a missing or unreadable file, an invalid index.</summary>
    public const int BadInput = 2;
}
