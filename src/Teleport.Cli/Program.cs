namespace Teleport.Cli;

/// <summary>The single teleport executable: every role and tool is a subcommand.</summary>
public static class Program
{
    public static int Main(string[] args) => TeleportApp.Run(args, Console.Out, Console.Error);
}
