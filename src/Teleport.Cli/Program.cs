namespace Teleport.Cli;

/// <summary>The single teleport executable: every role and tool is a subcommand.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Ctrl-C and SIGTERM stop the command through its cancellation token instead of killing the process mid-write.
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                stop.Cancel();
            });
        return TeleportApp.Run(args, Console.Out, Console.Error, cancellationToken: stop.Token);
    }
}
