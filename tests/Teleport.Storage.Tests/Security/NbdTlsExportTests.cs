using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Contracts;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tls;
using Teleport.Storage.Migrations;
using Teleport.Storage.Tests.Migrations;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Security;

/// <summary>
/// The storage worker's NBD over TLS: only clients of the CA, each opening only the volumes its host id is allowed
/// (Storage:ExportClients, the grant file beside the volume, PrepareDestination's AllowedClient).
/// </summary>
public sealed class NbdTlsExportTests : IAsyncLifetime
{
    private const int MiB = 1024 * 1024;
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-nbdtls-").FullName;
    private TestCertificates _ca = null!;
    private NbdExportService _exports = null!;
    private StorageMigrations _migrations = null!;
    private PublishedEvents _published = null!;
    private NbdTlsCredentials _hostA = null!;
    private NbdTlsCredentials _hostB = null!;

    public async Task InitializeAsync()
    {
        _ca = await TestCertificates.CreateAsync();
        var options = new StorageWorkerOptions
        {
            StorageId = "dst-1", VolumeDirectory = _root, NbdListen = "127.0.0.1:0", DataListen = "127.0.0.1:0", DataChannelTls = false,
            NbdTlsDirectory = await _ca.ServerDirectoryAsync(), ExportClients = new() { ["vol1"] = ["host-a"] },
        };
        options.Validate();
        _hostA = NbdTlsCredentials.ForClient(await _ca.ClientDirectoryAsync("host-a"));
        _hostB = NbdTlsCredentials.ForClient(await _ca.ClientDirectoryAsync("host-b"));
        var store = new VolumeStore(_root);
        store.Create("vol1", MiB);
        store.Create("vol2", MiB);
        var volumes = new VolumeTrackers();
        _exports = new NbdExportService(options, store, volumes, NullLoggerFactory.Instance);
        _published = PublishedEvents.Create(out var bus);
        _migrations = new StorageMigrations(options, store, volumes, _exports, bus, NullLoggerFactory.Instance, null, null,
            new MigrationJournal(options.EffectiveStateDirectory, NullLogger.Instance));
        await _exports.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _migrations.StopAsync();
        await _exports.StopAsync(CancellationToken.None);
        await _exports.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task A_configured_host_opens_its_volume_and_no_other_client_does()
    {
        await using (var client = await NbdClient.ConnectAsync(EndPoint, "vol1", new NbdClientOptions { Tls = _hostA }))
        {
            await client.WriteAsync(0, "teleport"u8.ToArray(), fua: true);
        }

        var otherHost = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(EndPoint, "vol1", new NbdClientOptions { Tls = _hostB }));
        var plain = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(EndPoint, "vol1"));
        var plainList = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ListExportsAsync(EndPoint));

        Assert.Equal(NbdOptionReplyType.ErrorUnknown, otherHost.Reply);
        Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, plain.Reply);
        Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, plainList.Reply);
        Assert.Equal("teleport"u8.ToArray(), File.ReadAllBytes(Path.Combine(_root, "vol1.img"))[..8]);
        Assert.Equal(["vol1"], (await NbdClient.ListExportsAsync(EndPoint, _hostA)).Select(e => e.Name));
        Assert.Empty(await NbdClient.ListExportsAsync(EndPoint, _hostB));
    }

    [Fact]
    public async Task A_grant_file_beside_the_volume_applies_to_the_next_connection()
    {
        await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(EndPoint, "vol2", new NbdClientOptions { Tls = _hostB }));

        await File.WriteAllTextAsync(Path.Combine(_root, "vol2.img.clients"), "# VMs of host-b\nhost-b\n");

        await using var client = await NbdClient.ConnectAsync(EndPoint, "vol2", new NbdClientOptions { Tls = _hostB });
        Assert.Equal(MiB, client.Size);
        await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(EndPoint, "vol2", new NbdClientOptions { Tls = _hostA }));
    }

    [Fact]
    public async Task Prepare_destination_grants_the_vms_host_and_refuses_a_malformed_one()
    {
        var granted = Guid.NewGuid();
        var malformed = Guid.NewGuid();

        await _migrations.PrepareDestinationAsync(new PrepareDestination(granted, "vol3", "src-1", "dst-1", new MigrationOptions(BlockSize: 4096), 1, "host-b"));
        await _migrations.PrepareDestinationAsync(new PrepareDestination(malformed, "vol4", "src-1", "dst-1", new MigrationOptions(BlockSize: 4096), 1, "host-b\nhost-c"));

        Assert.IsType<DestinationPrepared>(Assert.Single(_published.Of(granted)));
        Assert.True(_exports.Clients.Allows("vol3", "host-b"));
        Assert.False(_exports.Clients.Allows("vol3", "host-a"));
        Assert.Equal("host-b\n", await File.ReadAllTextAsync(Path.Combine(_root, "vol3.img.clients")));
        Assert.Contains("host id", Assert.IsType<TransferFailed>(Assert.Single(_published.Of(malformed))).Reason);
        Assert.False(File.Exists(Path.Combine(_root, "vol4.img.clients")));
    }

    private EndPoint EndPoint => _exports.EndPoint!;
}
