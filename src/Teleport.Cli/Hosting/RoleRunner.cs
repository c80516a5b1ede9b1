using Serilog;

namespace Teleport.Cli.Hosting;

/// <summary>Runs a role's generic host (storage, host, orchestrator) until Ctrl-C or SIGTERM, then stops it cleanly.</summary>
public static class RoleRunner
{
    /// <summary>
    /// Starts the role's host; a start that fails (database or broker not there) is one line for the operator and
    /// exit 1. Waits for <paramref name="cancellationToken"/>, then gives the host the role's stop timeout to stop and
    /// disposes it.
    /// </summary>
    public static async Task<int> RunAsync(RoleHost role, CliConsole console, CancellationToken cancellationToken)
    {
        using var host = role.Host;
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
            Log.Error(e, "{Role:l} could not start", role.Name);
            console.Ui.MarkupLine($"[red]error:[/] {Markup.Escape(role.Name)} could not start: {Markup.Escape(e.GetBaseException().Message)}");
            return ExitCodes.Failure;
        }

        Log.Information("{Role:l} running", role.Name);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Log.Information("{Role:l} stopping", role.Name);
        }

        using var stopping = new CancellationTokenSource(role.StopTimeout);
        await host.StopAsync(stopping.Token);
        Log.Information("{Role:l} stopped", role.Name);
        return ExitCodes.Success;
    }
}
