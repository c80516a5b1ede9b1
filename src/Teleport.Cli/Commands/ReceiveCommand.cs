using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Serilog;
using Teleport.Blocks;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport receive</c>: the destination side of a standalone migration. Waits for one authenticated sender,
/// rebuilds what it can from the local index, receives the rest and exits once the volume is verified.
/// </summary>
public sealed class ReceiveCommand(CliConsole console) : TransferCommand<ReceiveSettings>(console, "receive")
{
    private protected override async Task<(TransferResult Result, long VolumeBytes)> TransferAsync(
        ReceiveSettings settings, TransferStart start, CancellationToken cancellationToken)
    {
        var listen = TransferSupport.ParseListen(settings.Listen);
        long? expectedBytes = settings.Size is null ? null : ByteSize.Parse(settings.Size, "--size");
        using var index = settings.Index is null ? null : IndexOpener.Open(settings.Index, BlockSizes.Default);
        using var certificate = settings.TlsCertificate is null ? null : LoadCertificate(settings.TlsCertificate);

        // Resume progress lives beside the volume until the volume is verified; a rerun after a crash picks it up.
        string statePath = settings.Volume + ".teleport-state";
        var options = new DestinationOptions
        {
            MigrationId = start.MigrationId,
            Secret = start.Secret,
            VolumePath = settings.Volume,
            StatePath = statePath,
            Listen = listen,
            ExpectedVolumeBytes = expectedBytes,
            Index = index,
            VerifyByReading = settings.VerifyByReading,
            Tls = certificate is null ? null : new TransferTls { Certificate = certificate },
            Observer = start.Progress,
        };
        await using var session = new DestinationSession(options, start.Loggers.CreateLogger<DestinationSession>());
        var bound = session.Start();
        Log.Information("Receiving migration {MigrationId} into {Volume} on {Endpoint}{Index}",
            options.MigrationId, settings.Volume, bound, index is null ? "" : $" with the index in {settings.Index}");
        if (certificate is not null)
            Log.Information("TLS certificate SHA-256 (the sender's --tls-pin): {Pin}", Convert.ToHexStringLower(TransferTls.Sha256Of(certificate)));

        // Saved while the source's Goodbye is still a round trip away: the blocks received are in the index by then.
        var indexSaved = index is null ? Task.CompletedTask : session.Verified.ContinueWith(_ => index.Save(), CancellationToken.None,
            TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        var result = await ShowAsync(start, () => session.RunAsync(cancellationToken));
        await indexSaved;
        if (result.Verified)
            File.Delete(statePath);
        return (result, new FileInfo(settings.Volume).Length);
    }

    private static X509Certificate2 LoadCertificate(string path)
    {
        if (!File.Exists(path))
            throw new UserInputException($"certificate '{path}' does not exist");
        try
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password: null);
        }
        catch (CryptographicException e)
        {
            throw new UserInputException($"certificate '{path}' is not a PKCS#12 file with its key: {e.Message}");
        }
    }
}
