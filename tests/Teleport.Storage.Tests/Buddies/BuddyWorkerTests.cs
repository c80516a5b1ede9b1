using Teleport.Blocks;
using Teleport.Contracts;
using Teleport.Storage.Buddies;
using Teleport.Storage.Security;
using Teleport.Storage.Tests.Worker;
using Teleport.Storage.Worker;
using Teleport.Transfer.Buddies;

namespace Teleport.Storage.Tests.Buddies;

/// <summary>
/// Buddies as storage workers configure them: the settings are checked at start, and an incoming migration on the
/// real broker takes every block from a buddy of its site (authenticated by the data channel's certificates).
/// </summary>
public sealed class BuddyWorkerTests : IDisposable
{
    private const string BuddyId = "buddy-1";
    private readonly TempDir _dir = new();
    private readonly TestAuthority _ca = new();

    [Fact]
    public async Task An_incoming_migration_takes_the_volume_from_a_buddy_and_nothing_crosses_the_data_channel_but_the_index()
    {
        string buddyDirectory = _ca.WriteDirectory(_dir.File(BuddyId), BuddyId);
        using var buddyIdentity = DataChannelIdentity.Load(buddyDirectory, BuddyId);
        using var buddyIndex = BlockIndex.Open(_dir.File("buddy-index"));
        BuddyServer? server = null;
        try
        {
            await using var rig = await MigrationRig.Start(o =>
            {
                o.DataTlsDirectory = _ca.WriteDirectory(_dir.File(o.StorageId), o.StorageId);
                o.Peers[o.StorageId.StartsWith("src-", StringComparison.Ordinal) ? "dst-" + o.StorageId[4..] : "src-" + o.StorageId[4..]] = "127.0.0.1";
                if (!o.StorageId.StartsWith("dst-", StringComparison.Ordinal))
                    return;
                // The buddy answers this destination only; it holds what the source will send.
                var settings = new BuddySettings { Listen = "127.0.0.1:0", Peers = { [o.StorageId] = "127.0.0.1:1" } };
                server = new BuddyServer(settings.ForServer(buddyIdentity, buddyIndex)!);
                o.Buddies.Peers[BuddyId] = server.Start().ToString();
                // The first lookup pays TCP and TLS on a busy test machine; the default 2 s is for a LAN.
                o.Buddies.LookupTimeout = TimeSpan.FromSeconds(30);
            });
            string baseCopy = _dir.File("base.img");
            File.Copy(rig.SourceVolume, baseCopy);
            buddyIndex.Update([baseCopy]);

            var id = Guid.NewGuid();
            var options = new MigrationOptions(BlockSize: 4096);
            await rig.Prepare(id, options);
            var prepared = await rig.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, MigrationRig.Timeout);
            await rig.StartTransfer(id, prepared, options);
            await rig.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, MigrationRig.Timeout);
            await rig.FinalSync(id);
            var completed = await rig.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, MigrationRig.Timeout);

            Assert.True(completed.Verified);
            Assert.True(BusMigrationTests.FilesEqual(rig.SourceVolume, rig.DestinationVolume));
            Assert.Equal(0, completed.BlocksSent);
            Assert.True(server!.BlocksServed > 0);
            // The saga hears that the site had everything; the worker's metrics count the buddy's blocks.
            var requested = await rig.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id, MigrationRig.Timeout);
            Assert.Equal(0, requested.BlocksRequestedFromSource);
            Assert.Equal(server.BlocksServed, rig.Destination.Migrations.Resolved.FromBuddies);
        }
        finally
        {
            if (server is not null)
                await server.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(false, "127.0.0.1:10810", true, "needs Storage:DataTlsDirectory")]
    [InlineData(true, "127.0.0.1:10810", false, "needs Storage:IndexDirectory")]
    [InlineData(true, "not-an-endpoint", true, "Storage:Buddies:Listen 'not-an-endpoint' is not ADDR:PORT")]
    public void Bad_buddy_settings_stop_the_worker_at_start_with_the_setting_named(bool tls, string listen, bool index, string why)
    {
        var options = new StorageWorkerOptions
        {
            StorageId = "storage-b1",
            VolumeDirectory = _dir.Path,
            NbdListen = "127.0.0.1:0",
            DataTlsDirectory = tls ? _ca.WriteDirectory(_dir.File("tls"), "storage-b1") : null,
            IndexDirectory = index ? _dir.File("index") : null,
            Buddies = { Listen = listen, Peers = { ["storage-b2"] = "127.0.0.1:10810" } },
        };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(why, error.Message);
    }

    [Fact]
    public void A_buddy_peer_without_a_port_or_naming_this_worker_is_refused()
    {
        var settings = new BuddySettings { Peers = { ["storage-b2"] = "10.0.0.2" } };
        var options = new StorageWorkerOptions { StorageId = "storage-b1", DataTlsDirectory = "x" };
        Assert.Contains("'10.0.0.2' is not HOST:PORT", Assert.Throws<ArgumentException>(() => settings.Validate(options)).Message);
        settings = new BuddySettings { Peers = { ["storage-b1"] = "10.0.0.1:10810" } };
        Assert.Contains("is this worker itself", Assert.Throws<ArgumentException>(() => settings.Validate(options)).Message);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _dir.Dispose();
    }
}
