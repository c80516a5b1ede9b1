using System.Net;
using System.Net.Sockets;
using Teleport.Blocks;

namespace Teleport.Transfer.Tests.Buddies;

/// <summary>
/// A destination whose own index is empty resolves its misses at a buddy of its site (a real <see cref="Transfer.Buddies.BuddyServer"/>
/// over mutual TLS on loopback), verifies every block it pulls, and asks the source only for the rest; a buddy that
/// is down, silent, lying or not a buddy costs the migration nothing but the source's bytes.
/// </summary>
public sealed class BuddyMigrationTests
{
    private const int Blocks = 600, Changed = 60;

    [Fact]
    public async Task A_destination_with_an_empty_index_takes_the_base_from_its_buddy_and_the_source_sends_only_what_changed()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var buddy = rig.StartBuddy();

        var (source, destination) = await rig.MigrateAsync(rig.Buddies(buddy));

        Assert.True(destination.Verified);
        rig.Migration.AssertEqualVolumes();
        Assert.Equal(Blocks - Changed, destination.BlocksFromBuddies);
        Assert.Equal((long)(Blocks - Changed) * VolumeBuilder.BlockSize, destination.BuddyBytes);
        Assert.Equal(Changed, source.BlocksSent);
        Assert.Equal(Blocks - Changed, rig.Server.BlocksServed);
        // Random blocks do not compress: the base's 2.2 MiB would show on the wire had they crossed it.
        Assert.True(source.DataBytes < (Changed + 10) * VolumeBuilder.BlockSize, $"{source.DataBytes} data bytes crossed the WAN");
    }

    [Fact]
    public async Task The_wire_carries_the_same_bytes_as_when_the_destination_holds_the_base_itself()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var buddy = rig.StartBuddy();
        var (viaBuddy, _) = await rig.MigrateAsync(rig.Buddies(buddy));

        File.Delete(rig.Migration.DestinationPath);
        File.Delete(rig.Migration.DestinationPath + ".teleport-state");
        using var own = BlockIndex.Open(rig.Migration.Dir.File("own-index"));
        own.Update([rig.BasePath]);
        var (local, _) = await rig.MigrateAsync(null, own);

        Assert.Equal(local.BlocksSent, viaBuddy.BlocksSent);
        double ratio = (double)viaBuddy.BytesOnWire / local.BytesOnWire;
        Assert.InRange(ratio, 0.98, 1.02);
    }

    [Fact]
    public async Task A_buddy_that_refuses_connections_leaves_every_block_to_the_source()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var closed = new IPEndPoint(IPAddress.Loopback, FreePort.Next());

        await AllFromTheSourceAsync(rig, rig.Buddies(closed));
    }

    [Fact]
    public async Task A_silent_buddy_is_asked_once_and_costs_one_lookup_timeout()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        // Accepts connections and never answers (a hung worker, or a blackhole behind a live TCP stack).
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<Socket>();
        var accepting = AcceptAllAsync(silent, held);
        var buddies = rig.Buddies((IPEndPoint)silent.LocalEndpoint) with { LookupTimeout = TimeSpan.FromMilliseconds(300) };

        await AllFromTheSourceAsync(rig, buddies);
        // 600 misses are three lookups: after the first timed out, the buddy was left alone.
        lock (held)
            Assert.Single(held);
        silent.Stop();
        await accepting;
        foreach (var socket in held)
            socket.Dispose();
    }

    [Fact]
    public async Task A_buddy_answering_with_wrong_blocks_is_caught_and_those_blocks_come_from_the_source()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var buddy = rig.StartBuddy(o => o with { TamperBlock = block => block.Span[100] ^= 0x5a });

        var destination = await AllFromTheSourceAsync(rig, rig.Buddies(buddy));

        Assert.Equal(Blocks - Changed, destination.BuddyBlocksRejected);
    }

    [Fact]
    public async Task A_destination_whose_certificate_is_from_another_ca_is_refused_by_the_buddy()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var buddy = rig.StartBuddy();
        using var otherCa = new TestAuthority("Another CA");
        using var rogue = otherCa.Issue(BuddyRig.DestinationId);

        await AllFromTheSourceAsync(rig, rig.Buddies(buddy, own: rogue));

        Assert.Equal(0, rig.Server.BlocksServed);
        Assert.True(rig.Server.Refused >= 1);
    }

    [Fact]
    public async Task A_storage_worker_that_is_not_a_configured_buddy_is_refused()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        // The buddy knows only another storage id: this destination's certificate (right CA, its own CN) is not let in.
        var buddy = rig.StartBuddy(o => o with { Buddies = ["storage-b9"] });

        await AllFromTheSourceAsync(rig, rig.Buddies(buddy));

        Assert.Equal(0, rig.Server.BlocksServed);
        Assert.True(rig.Server.Refused >= 1);
    }

    [Fact]
    public async Task A_buddy_whose_certificate_names_another_storage_id_is_not_trusted()
    {
        await using var rig = new BuddyRig(Blocks, Changed);
        var buddy = rig.StartBuddy();

        // Configured as storage-b3, but the server at that endpoint proves storage-b2.
        await AllFromTheSourceAsync(rig, rig.Buddies(buddy, id: "storage-b3"));

        Assert.Equal(0, rig.Server.BlocksServed);
    }

    /// <summary>Migrates with <paramref name="buddies"/> that must not provide anything: every block comes from the source, verified.</summary>
    private static async Task<TransferResult> AllFromTheSourceAsync(BuddyRig rig, Transfer.Buddies.BuddyOptions buddies)
    {
        var (source, destination) = await rig.MigrateAsync(buddies);
        Assert.True(destination.Verified);
        rig.Migration.AssertEqualVolumes();
        Assert.Equal(0, destination.BlocksFromBuddies);
        Assert.Equal(Blocks, source.BlocksSent);
        return destination;
    }

    private static async Task AcceptAllAsync(TcpListener listener, List<Socket> held)
    {
        try
        {
            while (true)
            {
                var socket = await listener.AcceptSocketAsync();
                lock (held)
                    held.Add(socket);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
    }
}
