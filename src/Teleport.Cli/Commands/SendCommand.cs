using Microsoft.Extensions.Logging;
using Serilog;
using Spectre.Console.Cli;
using Teleport.Blocks;
using Teleport.Cli.Infrastructure;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport send</c>: the source side of a standalone migration of a volume nobody writes meanwhile
/// (a cold copy): index phase, requested blocks, a final round and the end-to-end verification.
/// </summary>
public sealed class SendCommand(CliConsole console) : AsyncCommand<SendSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, SendSettings settings, CancellationToken cancellationToken)
    {
        byte[] secret = TransferSupport.ReadSecret(settings.SecretFile);
        int blockSize = BlockSizeOption.Parse(settings.BlockSize);
        var destination = TransferSupport.ParseDestination(settings.To);
        var bandwidth = TransferSupport.ParseRate(settings.Bandwidth);
        if (settings.CompressionLevel is < 0 or > 22)
            throw new UserInputException("--compression-level must be from 0 (off) to 22");
        ImageFiles.RequireExisting([settings.Volume], "volume");
        long volumeBytes;
        using (var probe = ImageScanner.Open(settings.Volume, blockSize))
            volumeBytes = probe.Length;

        var progress = new TransferProgress("send");
        var options = new SourceOptions
        {
            MigrationId = TransferSupport.MigrationIdFor(settings, secret),
            Secret = secret,
            VolumePath = settings.Volume,
            Destination = destination,
            BlockSize = blockSize,
            CompressionLevel = settings.CompressionLevel,
            Bandwidth = bandwidth,
            AutoCutover = true,
            Tls = settings.TlsPin is null ? null : new TransferTls { PinnedPeerSha256 = ParsePin(settings.TlsPin) },
            Observer = progress,
        };
        // Nobody writes the volume during a standalone send, so nothing is ever dirty.
        var tracker = new DirtyBitmap(BlockSizes.CountBlocks(volumeBytes, blockSize), blockSize);
        using var loggers = TransferSupport.LoggerFactory();
        Log.Information("Sending {Volume} ({Bytes}) to {Destination} as migration {MigrationId}, bandwidth {Bandwidth}",
            settings.Volume, ByteSize.Format(volumeBytes), settings.To, options.MigrationId, bandwidth);

        await using var session = new SourceSession(options, tracker, loggers.CreateLogger<SourceSession>());
        var result = await progress.ShowAsync(console, () => session.RunAsync(cancellationToken));
        return TransferSupport.Report(console, result, settings.Json, volumeBytes);
    }

    private static byte[] ParsePin(string hex)
    {
        try
        {
            byte[] pin = Convert.FromHexString(hex.Replace(":", "", StringComparison.Ordinal));
            if (pin.Length == 32)
                return pin;
        }
        catch (FormatException)
        {
        }
        throw new UserInputException("--tls-pin must be a SHA-256 in hex (64 digits, colons allowed)");
    }
}
