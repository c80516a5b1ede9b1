using Microsoft.Extensions.Logging;
using Serilog;
using Teleport.Blocks;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport send</c>: the source side of a standalone migration of a volume nobody writes meanwhile
/// (a cold copy): index phase, requested blocks, a final round and the end-to-end verification.
/// </summary>
public sealed class SendCommand(CliConsole console) : TransferCommand<SendSettings>(console, "send")
{
    private protected override async Task<(TransferResult Result, long VolumeBytes)> TransferAsync(
        SendSettings settings, TransferStart start, CancellationToken cancellationToken)
    {
        int blockSize = BlockSizeOption.Parse(settings.BlockSize);
        var destination = TransferSupport.ParseDestination(settings.To);
        var bandwidth = TransferSupport.ParseRate(settings.Bandwidth);
        if (settings.CompressionLevel is < 0 or > 22)
            throw new UserInputException("--compression-level must be from 0 (off) to 22");
        ImageFiles.RequireExisting([settings.Volume], "volume");
        long volumeBytes;
        using (var probe = ImageScanner.Open(settings.Volume, blockSize))
            volumeBytes = probe.Length;

        var options = new SourceOptions
        {
            MigrationId = start.MigrationId,
            Secret = start.Secret,
            VolumePath = settings.Volume,
            Destination = destination,
            BlockSize = blockSize,
            CompressionLevel = settings.CompressionLevel,
            Bandwidth = bandwidth,
            AutoCutover = true,
            Tls = settings.TlsPin is null ? null : new TransferTls { PinnedPeerSha256 = ParsePin(settings.TlsPin) },
            Observer = start.Progress,
        };
        // Nobody writes the volume during a standalone send, so nothing is ever dirty.
        var tracker = new DirtyBitmap(BlockSizes.CountBlocks(volumeBytes, blockSize), blockSize);
        Log.Information("Sending {Volume} ({Bytes}) to {Destination} as migration {MigrationId}, bandwidth {Bandwidth}",
            settings.Volume, ByteSize.Format(volumeBytes), settings.To, options.MigrationId, bandwidth);

        await using var session = new SourceSession(options, tracker, start.Loggers.CreateLogger<SourceSession>());
        return (await ShowAsync(start, () => session.RunAsync(cancellationToken)), volumeBytes);
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
