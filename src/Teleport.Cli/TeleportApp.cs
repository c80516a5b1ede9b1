using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using Spectre.Console.Cli;
using Teleport.Cli.Commands;
using Teleport.Cli.Infrastructure;
using Teleport.Transfer;

namespace Teleport.Cli;

/// <summary>Builds the command tree; tests run it in-process with their own writers.</summary>
public static class TeleportApp
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool? interactive = null, CancellationToken cancellationToken = default)
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
            config.AddCommand<SendCommand>("send")
                .WithDescription("Send a volume to a `teleport receive` (a cold migration: nobody writes the volume meanwhile).")
                .WithExample("send", "--to", "dst.example:7000", "--volume", "lamp.img", "--secret-file", "secret", "--bandwidth", "100mbit");
            config.AddCommand<ReceiveCommand>("receive")
                .WithDescription("Receive one volume from a `teleport send`, rebuilding what the local index holds.")
                .WithExample("receive", "--listen", "0.0.0.0:7000", "--volume", "lamp.img", "--index", "/var/lib/teleport/index", "--secret-file", "secret");
            config.AddCommand<StorageCommand>("storage")
                .WithDescription("Run a storage worker: serve volumes over NBD and migrate them on the saga's commands.")
                .WithExample("storage", "--id", "ams-1", "--volumes", "/srv/volumes", "--nbd-listen", "0.0.0.0:10809", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            config.AddCommand<SimilarityCommand>("similarity")
                .WithDescription("How much of each target image a destination holding the base images would not need to receive.")
                .WithExample("similarity", "--base", "base.img", "--target", "lamp.img", "--json");
        });
        return app.Run(args, cancellationToken);
    }

    private static int ReportFailure(CliConsole console, Exception ex)
    {
        // Bad input is the user's to fix: one clear line, no stack trace. Anything else is ours: show it all.
        ex = Unwrap(ex);
        if (ex is TransferException or OperationCanceledException)
        {
            // The migration failed or was stopped: say why in one line; the log above has the detail.
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(ex.Message)}");
            return ExitCodes.Failure;
        }
        var badInput = ex is CommandAppException or UserInputException or IOException or UnauthorizedAccessException or ArgumentException;
        if (badInput)
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(ex.Message)}");
        else
            console.Ui.WriteException(ex, ExceptionFormats.ShortenPaths);
        return badInput ? ExitCodes.BadInput : ExitCodes.Failure;
    }

    private static Exception Unwrap(Exception ex) =>
        ex is CommandRuntimeException { InnerException: { } inner } ? inner : ex;
}
