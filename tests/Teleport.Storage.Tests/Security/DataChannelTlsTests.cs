using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Storage.Security;
using Teleport.Storage.Tests.Worker;
using Teleport.Storage.Worker;
using Teleport.Transfer;

namespace Teleport.Storage.Tests.Security;

/// <summary>TLS on the workers' data channel: the destination's certificate, its pin in DestinationPrepared, the source's check.</summary>
public sealed class DataChannelTlsTests : IDisposable
{
    private static readonly MigrationOptions Options = new(BlockSize: 4096);
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-tls-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_wrong_pin_is_refused_clearly_and_nothing_completes()
    {
        await using var rig = await MigrationRig.Start();
        var wrong = Guid.NewGuid();
        var malformed = Guid.NewGuid();
        await rig.Prepare(wrong, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == wrong, MigrationRig.Timeout);
        Assert.NotNull(prepared.CertificateSha256);

        string otherPin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        await rig.StartTransfer(wrong, prepared with { CertificateSha256 = otherPin }, Options);
        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == wrong, MigrationRig.Timeout);
        Assert.Equal(rig.Source.Id, failed.StorageId);
        Assert.Contains("certificate pin mismatch", failed.Reason);

        await rig.Saga.Send(rig.Source.Id, new StartTransfer(malformed, "lamp", rig.Source.Id, rig.Destination.Id, prepared.DataEndpoint,
            prepared.Secret, "not-hex", Options));
        var refused = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == malformed, MigrationRig.Timeout);
        Assert.Contains("is not a SHA-256 in hex", refused.Reason);
        Assert.Empty(await rig.Settled<MigrationCompleted>(wrong));
        Assert.Empty(rig.Log.All<IndexStreamed>(e => e.MigrationId == wrong));
    }

    [Fact]
    public async Task With_TLS_off_there_is_no_pin_and_the_migration_runs_in_the_clear()
    {
        await using var rig = await MigrationRig.Start(o => o.DataChannelTls = false);
        var id = Guid.NewGuid();
        await rig.Prepare(id, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.Null(prepared.CertificateSha256);
        Assert.Null(rig.Destination.Node.Certificate);

        await rig.StartTransfer(id, prepared, Options);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.FinalSync(id);
        Assert.True((await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout)).Verified);
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
    }

    [Fact]
    public void A_generated_certificate_is_kept_in_the_state_directory_so_the_pin_survives_a_restart()
    {
        var options = OptionsIn("gen");
        string pin;
        using (var first = DataChannelCertificate.Load(options, NullLogger.Instance))
        {
            pin = first.Sha256Hex;
            Assert.True(first.Certificate.HasPrivateKey);
            Assert.Equal(Path.Combine(options.EffectiveStateDirectory, DataChannelCertificate.GeneratedFileName), first.Source);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(first.Source));
        }

        using var second = DataChannelCertificate.Load(options, NullLogger.Instance);
        Assert.Equal(pin, second.Sha256Hex);
        Assert.Matches("^[0-9a-f]{64}$", pin);

        // A damaged file is replaced by a new certificate instead of stopping the worker.
        File.WriteAllText(second.Source, "garbage");
        using var third = DataChannelCertificate.Load(options, NullLogger.Instance);
        Assert.NotEqual(pin, third.Sha256Hex);
    }

    [Fact]
    public void A_configured_certificate_is_used_as_PKCS12_or_PEM_and_bad_ones_are_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=configured", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        string expected = Convert.ToHexStringLower(TransferTls.Sha256Of(certificate));

        string pfx = Path.Combine(_root, "cert.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "s3cret"));
        var options = OptionsIn("pfx");
        options.TlsCertificate = pfx;
        options.TlsCertificatePassword = "s3cret";
        using (var loaded = DataChannelCertificate.Load(options, NullLogger.Instance))
            Assert.Equal(expected, loaded.Sha256Hex);
        Assert.False(File.Exists(Path.Combine(options.EffectiveStateDirectory, DataChannelCertificate.GeneratedFileName)));

        string pem = Path.Combine(_root, "cert.pem");
        string pemKey = Path.Combine(_root, "key.pem");
        File.WriteAllText(pem, certificate.ExportCertificatePem());
        File.WriteAllText(pemKey, key.ExportPkcs8PrivateKeyPem());
        var pemOptions = OptionsIn("pem");
        pemOptions.TlsCertificate = pem;
        pemOptions.TlsKey = pemKey;
        using (var loaded = DataChannelCertificate.Load(pemOptions, NullLogger.Instance))
        {
            Assert.Equal(expected, loaded.Sha256Hex);
            Assert.True(loaded.Certificate.HasPrivateKey);
        }

        options.TlsCertificatePassword = "wrong";
        Assert.Contains("cannot be loaded", Assert.Throws<ArgumentException>(() => DataChannelCertificate.Load(options, NullLogger.Instance)).Message);
        string publicOnly = Path.Combine(_root, "public.pfx");
        File.WriteAllBytes(publicOnly, X509CertificateLoader.LoadCertificate(certificate.RawData).Export(X509ContentType.Pkcs12));
        var noKey = OptionsIn("nokey");
        noKey.TlsCertificate = publicOnly;
        Assert.Contains("has no private key", Assert.Throws<ArgumentException>(() => DataChannelCertificate.Load(noKey, NullLogger.Instance)).Message);
        var missing = OptionsIn("missing");
        missing.TlsCertificate = Path.Combine(_root, "nope.pfx");
        Assert.Contains("does not exist", Assert.Throws<ArgumentException>(() => DataChannelCertificate.Load(missing, NullLogger.Instance)).Message);
    }

    private StorageWorkerOptions OptionsIn(string name) => new()
    {
        StorageId = name,
        VolumeDirectory = Directory.CreateDirectory(Path.Combine(_root, name)).FullName,
    };
}
