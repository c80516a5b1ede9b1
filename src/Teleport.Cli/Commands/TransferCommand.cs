using Microsoft.Extensions.Logging;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>What a standalone transfer starts from: the id and secret both sides share, its progress display and loggers.</summary>
internal sealed record TransferStart(Guid MigrationId, byte[] Secret, TransferProgress Progress, ILoggerFactory Loggers);

/// <summary>
/// <c>teleport send</c> and <c>teleport receive</c> alike: read the secret and derive the migration id, run the side's
/// session under a progress display, report the figures; the exit code says whether the volume was verified.
/// </summary>
public abstract class TransferCommand<TSettings>(CliConsole console, string side) : AsyncCommand<TSettings>
    where TSettings : TransferSettings
{
    public sealed override async Task<int> ExecuteAsync(CommandContext context, TSettings settings, CancellationToken cancellationToken)
    {
        byte[] secret = TransferSupport.ReadSecret(settings.SecretFile);
        using var loggers = TransferSupport.LoggerFactory();
        var start = new TransferStart(TransferSupport.MigrationIdFor(settings, secret), secret, new TransferProgress(side), loggers);
        var (result, volumeBytes) = await TransferAsync(settings, start, cancellationToken);
        return TransferSupport.Report(console, result, settings.Json, volumeBytes);
    }

    /// <summary>Runs the side's session; returns its result and the volume's size for the report.</summary>
    private protected abstract Task<(TransferResult Result, long VolumeBytes)> TransferAsync(
        TSettings settings, TransferStart start, CancellationToken cancellationToken);

    /// <summary>Runs the session while the progress display shows it.</summary>
    private protected Task<TransferResult> ShowAsync(TransferStart start, Func<Task<TransferResult>> run) => start.Progress.ShowAsync(console, run);
}
