using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using Spectre.Console.Cli;
using Teleport.Cli.Commands;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli;

/// <summary>Builds the command tree; tests run it in-process with their own writers.</summary>
public static class TeleportApp
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool? interactive = null)
    {
        var console = new CliConsole(stdout, stderr, interactive ?? (!Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") is null));
        var services = new ServiceCollection();
        services.AddSingleton(console);

        var app = new CommandApp(new ServiceCollectionRegistrar(services));
        app.Configure(config =>
        {
            config.SetApplicationName("teleport");
            config.ConfigureConsole(console.Ui);
            config.SetInterceptor(new LoggingInterceptor(stderr));
            config.SetExceptionHandler((ex, _) => ReportFailure(console, ex));

            config.AddBranch("index", index =>
            {
                index.SetDescription("Build and inspect the content index of local images.");
                index.AddCommand<IndexBuildCommand>("build")
                    .WithDescription("Index images (files or block devices) into DIR; unchanged images are skipped.")
                    .WithExample("index", "build", "--index", "/var/lib/teleport/index", "base.img", "web.img");
                index.AddCommand<IndexStatsCommand>("stats")
                    .WithDescription("Show what an index holds.")
                    .WithExample("index", "stats", "--index", "/var/lib/teleport/index", "--json");
            });
            config.AddCommand<SimilarityCommand>("similarity")
                .WithDescription("How much of each target image a destination holding the base images would not need to receive.")
                .WithExample("similarity", "--base", "base.img", "--target", "lamp.img", "--json");
        });
        return app.Run(args);
    }

    private static int ReportFailure(CliConsole console, Exception ex)
    {
        // Bad input is the user's to fix: one clear line, no stack trace. Anything else is ours: show it all.
        var expected = ex is CommandAppException or UserInputException or IOException or UnauthorizedAccessException or ArgumentException;
        if (expected)
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(Unwrap(ex).Message)}");
        else
            console.Ui.WriteException(ex, ExceptionFormats.ShortenPaths);
        return expected ? ExitCodes.BadInput : ExitCodes.Failure;
    }

    private static Exception Unwrap(Exception ex) =>
        ex is CommandRuntimeException { InnerException: { } inner } ? inner : ex;
}
