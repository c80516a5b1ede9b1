using Spectre.Console.Cli;

namespace Teleport.Cli;

/// <summary>The single teleport executable: every role and tool is a subcommand.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var app = new CommandApp();
        app.Configure(config => config.SetApplicationName("teleport"));
        return app.Run(args);
    }
}
