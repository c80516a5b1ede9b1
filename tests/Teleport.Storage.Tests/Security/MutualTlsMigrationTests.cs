using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Storage.Security;
using Teleport.Storage.Tests.Worker;
using Teleport.Storage.Worker;
using Teleport.Testing;

namespace Teleport.Storage.Tests.Security;

/// <summary>
/// Two storage workers on the bus with the data channel in mutual TLS: certificates from one CA carrying each
/// worker's storage id, known peers in configuration, no secret or pin on the bus; and the refusals.
/// </summary>
public sealed class MutualTlsMigrationTests : IDisposable
{
    private static readonly MigrationOptions Options = new(BlockSize: 4096);
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new();

    // Each worker gets a directory in QEMU's layout with its own id as CN, and the other worker as its only peer.
    private void Mutual(StorageWorkerOptions o)
    {
        o.DataTlsDirectory = _ca.WriteDirectory(_dir.File(o.StorageId), o.StorageId);
        o.Peers[Other(o.StorageId)] = "127.0.0.1";
    }

    private static string Other(string id) => id.StartsWith("src-", StringComparison.Ordinal) ? "dst-" + id[4..] : "src-" + id[4..];

    [Fact]
    public async Task A_migration_runs_with_no_secret_and_no_pin_on_the_bus()
    {
        await using var rig = await MigrationRig.Start(Mutual);
        var id = Guid.NewGuid();
        long size = new FileInfo(rig.SourceVolume).Length;
        var options = Options with { VolumeBytes = size };
        await rig.Prepare(id, options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.True(prepared.MutualTls);
        Assert.Null(prepared.Secret);
        Assert.Null(prepared.CertificateSha256);

        await rig.StartTransfer(id, prepared, options);
        await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
        await rig.FinalSync(id);
        Assert.True((await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout)).Verified);
        Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
    }

    [Fact]
    public async Task A_start_transfer_to_an_unknown_peer_or_another_endpoint_is_refused_before_connecting()
    {
        await using var rig = await MigrationRig.Start(Mutual);
        var unknownPeer = Guid.NewGuid();
        var elsewhere = Guid.NewGuid();
        await rig.Prepare(unknownPeer, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == unknownPeer, MigrationRig.Timeout);

        // A rogue publisher names a storage the source does not know, at the real destination's endpoint.
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(unknownPeer, "lamp", rig.Source.Id, "storage-rogue", prepared.DataEndpoint, null, null, Options));
        var refused = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == unknownPeer, MigrationRig.Timeout);
        Assert.Contains("storage 'storage-rogue' is not a known peer", refused.Reason);

        // The known destination's id, but an endpoint on another host.
        string port = prepared.DataEndpoint[(prepared.DataEndpoint.LastIndexOf(':') + 1)..];
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(elsewhere, "lamp", rig.Source.Id, rig.Destination.Id, $"192.0.2.7:{port}", null, null, Options));
        var moved = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == elsewhere, MigrationRig.Timeout);
        Assert.Contains("is not where storage", moved.Reason);
        Assert.Empty(rig.Log.All<IndexStreamed>(e => e.MigrationId == unknownPeer || e.MigrationId == elsewhere));
    }

    [Fact]
    public async Task Known_peers_also_bind_the_pinned_default_mode()
    {
        await using var rig = await MigrationRig.Start(o => o.Peers[Other(o.StorageId)] = "127.0.0.1");
        var id = Guid.NewGuid();
        await rig.Prepare(id, Options);
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.False(prepared.MutualTls);
        Assert.NotNull(prepared.Secret);
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(id, "lamp", rig.Source.Id, "storage-rogue", prepared.DataEndpoint, prepared.Secret,
            prepared.CertificateSha256, Options));
        var refused = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id, MigrationRig.Timeout);
        Assert.Contains("not a known peer", refused.Reason);
    }

    [Fact]
    public async Task The_destination_refuses_a_volume_of_another_size_than_prepared()
    {
        await using var rig = await MigrationRig.Start(Mutual);
        var id = Guid.NewGuid();
        long size = new FileInfo(rig.SourceVolume).Length;
        // A source told the size refuses before connecting.
        var early = Guid.NewGuid();
        await rig.Saga.Send(rig.Source.Id, new StartTransfer(early, "lamp", rig.Source.Id, rig.Destination.Id, "127.0.0.1:9", null, null,
            Options with { VolumeBytes = size * 2 }));
        var refused = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == early, MigrationRig.Timeout);
        Assert.Contains($"prepared for a volume of {size * 2} bytes, but volume 'lamp' on storage '{rig.Source.Id}' has {size}", refused.Reason);

        await rig.Prepare(id, Options with { VolumeBytes = size + 4096 });
        var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);

        // The source is told nothing about the size, so only the destination can catch it.
        await rig.StartTransfer(id, prepared, Options);
        var failed = await rig.Log.WaitFor<TransferFailed>(e => e.MigrationId == id && e.StorageId == rig.Destination.Id, MigrationRig.Timeout);
        Assert.Contains($"the source's volume is {size} bytes; this destination was prepared for {size + 4096}", failed.Reason);
        Assert.Empty(await rig.Settled<MigrationCompleted>(id));
    }

    [Fact]
    public void A_directory_whose_certificate_names_another_storage_or_lacks_files_is_refused_at_start()
    {
        string wrong = _ca.WriteDirectory(_dir.File("wrong"), "storage-b");
        var error = Assert.Throws<ArgumentException>(() => DataChannelIdentity.Load(wrong, "storage-a"));
        Assert.Contains("names 'storage-b' in its subject CN, not the expected storage 'storage-a'", error.Message);

        string missing = _ca.WriteDirectory(_dir.File("missing"), "storage-a");
        File.Delete(Path.Combine(missing, DataChannelIdentity.ServerKeyFile));
        Assert.Contains("needs server-cert.pem and server-key.pem", Assert.Throws<ArgumentException>(() => DataChannelIdentity.Load(missing, "storage-a")).Message);

        // A CA file from another authority: our own certificate would be refused by every peer, so it is refused here.
        using var other = new TestAuthority("Another CA");
        string mixed = _ca.WriteDirectory(_dir.File("mixed"), "storage-a");
        File.WriteAllText(Path.Combine(mixed, DataChannelIdentity.CaFile), other.Authority.ExportCertificatePem());
        Assert.Contains("not accepted by the configured CA", Assert.Throws<ArgumentException>(() => DataChannelIdentity.Load(mixed, "storage-a")).Message);

        string good = _ca.WriteDirectory(_dir.File("good"), "storage-a");
        using var identity = DataChannelIdentity.Load(good, "storage-a");
        Assert.Same(identity.Server, identity.Client);
    }

    [Fact]
    public void Peers_settings_are_validated_and_mutual_tls_requires_them()
    {
        var options = new StorageWorkerOptions { StorageId = "a", VolumeDirectory = _dir.Path, NbdListen = "127.0.0.1:0", Peers = { ["b"] = "not a host:x" } };
        Assert.Contains("Storage:Peers:b 'not a host:x' is not HOST or HOST:PORT", Assert.Throws<ArgumentException>(options.Validate).Message);

        var peers = new KnownPeers(new Dictionary<string, string> { ["b"] = "storage-b.example:7000", ["c"] = "[::1]" }, required: true);
        Assert.Equal("storage-b.example:7000", peers.Resolve("b", "STORAGE-B.example:7000").ToString()?.Split('/')[^1]);
        Assert.Contains("is not where storage 'b'", Assert.Throws<ArgumentException>(() => peers.Resolve("b", "storage-b.example:7001")).Message);
        Assert.Equal(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 9), peers.Resolve("c", "[::1]:9"));
        Assert.Contains("not a known peer", Assert.Throws<ArgumentException>(() => new KnownPeers(new Dictionary<string, string>(), required: true).Resolve("b", "h:1")).Message);
        Assert.Equal("h:1", new KnownPeers(new Dictionary<string, string>(), required: false).Resolve("b", "h:1").ToString()?.Split('/')[^1]);

        using var security = DataChannelSecurity.Load(new StorageWorkerOptions
        {
            StorageId = "storage-a",
            VolumeDirectory = _dir.Path,
            DataTlsDirectory = _ca.WriteDirectory(_dir.File("a"), "storage-a"),
        }, NullLogger.Instance);
        Assert.True(security.Peers.Required);
        Assert.Empty(security.NewSecret());
        Assert.Equal((null, null), security.Published([]));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }
}
