using Microsoft.Extensions.DependencyInjection;
using Teleport.Cli.Commands;
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
            // A mistyped flag must be an error, not silently ignored (Spectre would pass it on as a remaining argument).
            config.Settings.StrictParsing = true;
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
            config.AddCommand<VolumesCommand>("volumes")
                .WithDescription("List a storage worker's volumes and the retained copies of volumes it moved away.")
                .WithExample("volumes", "--volumes", "/var/lib/teleport/volumes", "--json");
            config.AddCommand<SendCommand>("send")
                .WithDescription("Send a volume to a `teleport receive` (a cold migration: nobody writes the volume meanwhile).")
                .WithExample("send", "--to", "dst.example:7000", "--volume", "lamp.img", "--secret-file", "secret", "--bandwidth", "100mbit");
            config.AddCommand<ReceiveCommand>("receive")
                .WithDescription("Receive one volume from a `teleport send`, rebuilding what the local index holds.")
                .WithExample("receive", "--listen", "0.0.0.0:7000", "--volume", "lamp.img", "--index", "/var/lib/teleport/index", "--secret-file", "secret");
            config.AddCommand<StorageCommand>("storage")
                .WithDescription("Run a storage worker: serve volumes over NBD and migrate them on the saga's commands.")
                .WithExample("storage", "--id", "ams-1", "--volumes", "/srv/volumes", "--nbd-listen", "0.0.0.0:10809", "--nbd-tls-dir", "/etc/teleport/nbd", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            config.AddCommand<HostCommand>("host")
                .WithDescription("Run a host worker: serve VM disks through path switchers and pause, switch and resume VMs on the saga's commands.")
                .WithExample("host", "--id", "hv-1", "--bus", "rabbitmq://teleport:secret@mq:5672/", "--vm", "vm42,qmp=/run/vm42.qmp,listen=unix:/run/vm42.nbd,storage=ams-1,upstream=ams-1:10809,export=vm42");
            config.AddCommand<OrchestratorCommand>("orchestrator")
                .WithDescription("Run an orchestrator: the migration saga, its database and deadline sweeper.")
                .WithExample("orchestrator", "--db", "Host=db;Database=teleport;Username=teleport;Password=secret", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            config.AddCommand<MigrateCommand>("migrate")
                .WithDescription("Ask the orchestrators to live-migrate a VM's volume; --wait follows it to the end.")
                .WithExample("migrate", "--vm", "web-1", "--volume", "web-1-root", "--from", "ams-1", "--to", "fra-1", "--host", "hv-7", "--wait", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            config.AddCommand<StatusCommand>("status")
                .WithDescription("Show the migrations in the saga store, or one of them in detail.")
                .WithExample("status", "--db", "/var/lib/teleport/orchestrator.db")
                .WithExample("status", "3f2a9c1e", "--json", "--db", "/var/lib/teleport/orchestrator.db");
            config.AddCommand<WatchCommand>("watch")
                .WithDescription("Follow every migration until Ctrl-C (a live table on a terminal, one line per change otherwise).")
                .WithExample("watch", "--db", "/var/lib/teleport/orchestrator.db");
            config.AddCommand<ReplayCommand>("replay")
                .WithDescription("Move faulted messages from QUEUE_error back to the queue they failed on.")
                .WithExample("replay", "--queue", "teleport-orchestrator", "--all", "--dry-run", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            config.AddBranch("migrations", migrations =>
            {
                migrations.SetDescription("Act on one migration through the orchestrators.");
                migrations.AddCommand<MigrationsRetryCommand>("retry")
                    .WithDescription("Restart a Failed migration with the same id, reusing what the destination holds.")
                    .WithExample("migrations", "retry", "3f2a9c1e-0000-4000-8000-000000000000", "--bus", "rabbitmq://teleport:secret@mq:5672/");
                migrations.AddCommand<MigrationsCancelCommand>("cancel")
                    .WithDescription("Roll a migration back to the source and end it Failed.")
                    .WithExample("migrations", "cancel", "3f2a9c1e-0000-4000-8000-000000000000", "--reason", "change window closed", "--bus", "rabbitmq://teleport:secret@mq:5672/");
            });
            config.AddCommand<DemoCommand>("demo")
                .WithDescription("Migrate a generated volume while a VM writes to it: the whole system in one process, then a verified summary.")
                .WithExample("demo")
                .WithExample("demo", "--bandwidth", "100mbit", "--json");
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
        bool badInput = ex is CommandAppException or UserInputException or IOException or UnauthorizedAccessException or ArgumentException;
        if (badInput)
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(ex.Message)}");
        else
            console.Ui.WriteException(ex, ExceptionFormats.ShortenPaths);
        return badInput ? ExitCodes.BadInput : ExitCodes.Failure;
    }

    private static Exception Unwrap(Exception ex) =>
        ex is CommandRuntimeException { InnerException: { } inner } ? inner : ex;
}
