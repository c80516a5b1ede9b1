using System.Net;
using Teleport.Messaging;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Worker;

public sealed class StorageWorkerOptionsTests
{
    private static StorageWorkerOptions Valid() => new() { StorageId = "ams-1", VolumeDirectory = "/srv/volumes", NbdInsecure = true };

    [Fact]
    public void Parses_the_bus_setting()
    {
        Assert.True(BusAddress.Parse("memory", "Storage:Bus").InMemory);
        var rabbit = BusAddress.Parse("rabbitmq://teleport:s%40cret@mq.example:5673/prod", "Storage:Bus");
        Assert.Equal(("mq.example", 5673, "teleport", "s@cret", "prod"), (rabbit.Broker!.Host, rabbit.Port, rabbit.User, rabbit.Password, rabbit.VirtualHost));
        Assert.DoesNotContain("s@cret", rabbit.ToString());
        var amqp = BusAddress.Parse("amqp://127.0.0.1:5672/", "Storage:Bus");
        Assert.Equal(("guest", "guest", "/"), (amqp.User, amqp.Password, amqp.VirtualHost));
    }

    [Theory]
    [InlineData("nats://mq:4222")]
    [InlineData("rabbitmq")]
    [InlineData("")]
    public void Refuses_other_buses(string bus) =>
        Assert.Contains("Storage:Bus", Assert.Throws<ArgumentException>(() => BusAddress.Parse(bus, "Storage:Bus")).Message);

    [Fact]
    public void Validate_names_the_bad_setting()
    {
        Valid().Validate();
        Assert.Contains("StorageId", Check(o => o.StorageId = "a/b"));
        Assert.Contains("VolumeDirectory", Check(o => o.VolumeDirectory = " "));
        Assert.Contains("NbdListen", Check(o => o.NbdListen = "10809"));
        Assert.Contains("DataListen", Check(o => o.DataListen = "somewhere"));
        Assert.Contains("Bus", Check(o => o.Bus = "kafka://x"));
        Assert.Contains("block size", Check(o => o.BlockSize = 1000), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("MaxCopyRounds", Check(o => o.MaxCopyRounds = 0));
        Assert.Contains("MaxCompressionWindowLog", Check(o => o.MaxCompressionWindowLog = 28));
        Assert.Contains("MaxCompressionWindowLog", Check(o => o.MaxCompressionWindowLog = 19));
        Assert.Contains("ReceiveReadAheadBytes", Check(o => o.ReceiveReadAheadBytes = -1));
        Assert.Contains("Storage:Nbd:MemoryBudget", Check(o => o.Nbd = o.Nbd with { MemoryBudget = 16 << 20 }));
        Assert.Contains("Storage:Nbd:MemoryBudget", Check(o => o.Nbd = new() { MaxPayloadLength = 20 << 20, MemoryBudget = 20 << 20 }));
        Assert.Contains("Storage:DataChannel:HandshakeTimeout", Check(o => o.DataChannel.HandshakeTimeout = TimeSpan.Zero));
        Assert.Contains("Storage:DataChannel:HandshakeTimeout", Check(o => o.DataChannel.HandshakeTimeout = Timeout.InfiniteTimeSpan));
        Assert.Contains("Storage:DataChannel:HandshakeTimeout", Check(o => o.DataChannel.HandshakeTimeout = TimeSpan.FromDays(2)));
        Assert.Contains("Storage:DataChannel:MaxHandshakes", Check(o => o.DataChannel.MaxHandshakes = 0));
        Assert.Contains("Storage:DataChannel:MaxHandshakesPerPeer", Check(o => o.DataChannel.MaxHandshakesPerPeer = 0));
        Assert.Contains("Storage:DataChannel:MaxHandshakesPerPeer", Check(o => o.DataChannel.MaxHandshakesPerPeer = 33));
    }

    [Fact]
    public void Advertises_the_listen_address_or_the_configured_host()
    {
        Assert.Equal("10.0.0.5:7000", Valid().Advertise(new IPEndPoint(IPAddress.Parse("10.0.0.5"), 7000)));
        Assert.Equal("[::1]:7000", Valid().Advertise(new IPEndPoint(IPAddress.IPv6Loopback, 7000)));
        var named = Valid();
        named.AdvertiseHost = "ams-1.example";
        Assert.Equal("ams-1.example:7000", named.Advertise(new IPEndPoint(IPAddress.Any, 7000)));
        Assert.Equal($"{Dns.GetHostName()}:7000", Valid().Advertise(new IPEndPoint(IPAddress.Any, 7000)));
    }

    private static string Check(Action<StorageWorkerOptions> change)
    {
        var options = Valid();
        change(options);
        return Assert.ThrowsAny<ArgumentException>(options.Validate).Message;
    }

    [Fact]
    public void Plain_nbd_on_the_network_needs_the_insecure_flag_and_a_tls_directory_must_be_complete()
    {
        var exposed = Valid();
        exposed.NbdInsecure = false;
        var loopback = Valid();
        (loopback.NbdInsecure, loopback.NbdListen) = (false, "127.0.0.1:10809");
        var incomplete = Valid();
        incomplete.NbdTlsDirectory = Directory.CreateTempSubdirectory("teleport-notls-").FullName;

        Assert.Contains("--nbd-insecure", Assert.Throws<ArgumentException>(exposed.Validate).Message);
        loopback.Validate();
        Assert.Contains("Storage:NbdTlsDirectory", Assert.Throws<ArgumentException>(incomplete.Validate).Message);
        Directory.Delete(incomplete.NbdTlsDirectory, recursive: true);
    }

    [Fact]
    public void A_psk_file_secures_nbd_on_the_network_and_a_bad_one_or_both_kinds_are_refused()
    {
        using var dir = new TempDir();
        string good = dir.File("keys.psk");
        File.WriteAllText(good, "host-a:00112233445566778899aabbccddeeff\n");
        string bad = dir.File("bad.psk");
        File.WriteAllText(bad, "host-a 0011\n");
        var psk = Valid();
        (psk.NbdInsecure, psk.NbdPskFile) = (false, good);
        var malformed = Valid();
        malformed.NbdPskFile = bad;
        var both = Valid();
        (both.NbdPskFile, both.NbdTlsDirectory) = (good, dir.Path);

        psk.Validate();
        Assert.True(psk.NbdSecured);
        Assert.Equal(["host-a"], Assert.IsType<Teleport.Nbd.Tls.NbdPskCredentials>(psk.NbdServerTls()).Identities);
        Assert.Contains("Storage:NbdPskFile", Assert.Throws<ArgumentException>(malformed.Validate).Message);
        Assert.Contains("exclude each other", Assert.Throws<ArgumentException>(both.Validate).Message);
    }
}
