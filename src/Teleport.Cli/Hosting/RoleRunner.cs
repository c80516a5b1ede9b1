using Microsoft.Extensions.Hosting;
using Serilog;
using Spectre.Console;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Hosting;

/// <summary>Runs a role's generic host (storage, host, orchestrator) until Ctrl-C or SIGTERM, then stops it cleanly.</summary>
public static class RoleRunner
{
    /// <summary>
    /// Starts <paramref name="host"/>; a start that fails (database or broker not there) is one line for the operator
    /// and exit 1. Waits for <paramref name="cancellationToken"/>, then gives the host <paramref name="stopTimeout"/> to stop.
    /// </summary>
    public static async Task<int> RunAsync(IHost host, string role, TimeSpan stopTimeout, CliConsole console, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.Error(e, "{Role:l} could not start", role);
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(role)} could not start: {Markup.Escape(e.GetBaseException().Message)}");
            return ExitCodes.Failure;
        }

        Log.Information("{Role:l} running", role);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Log.Information("{Role:l} stopping", role);
        }

        using var stopping = new CancellationTokenSource(stopTimeout);
        await host.StopAsync(stopping.Token);
        Log.Information("{Role:l} stopped", role);
        return ExitCodes.Success;
    }
}
