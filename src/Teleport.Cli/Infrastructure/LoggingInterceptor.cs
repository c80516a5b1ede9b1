using System.Globalization;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;
using Serilog.Formatting.Display;

namespace Teleport.Cli.Infrastructure;

/// <summary>Configures Serilog from the global options before any command runs. Logs go to stderr only.</summary>
internal sealed class LoggingInterceptor(TextWriter stderr) : ICommandInterceptor
{
    public void Intercept(CommandContext context, CommandSettings settings)
    {
        var global = settings as GlobalSettings;
        var level = global?.Verbose == true ? LogEventLevel.Debug : LogEventLevel.Information;
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("MassTransit", LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .Enrich.WithProperty("Command", context.Name);
        config = global?.LogFormat == "json"
            ? config.WriteTo.Sink(new TextWriterSink(stderr, new CompactJsonFormatter()))
            : config.WriteTo.Sink(new TextWriterSink(stderr,
                new MessageTemplateTextFormatter("{Timestamp:HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}", CultureInfo.InvariantCulture)));
        Log.Logger = config.CreateLogger();
    }

    public void InterceptResult(CommandContext context, CommandSettings settings, ref int result) => Log.CloseAndFlush();
}
