using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Teleport.Host.Worker;
using Teleport.Messaging;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;
using Teleport.Storage.Security;
using Teleport.Storage.Worker;
using static Teleport.Cli.Tests.DeploymentFileTests;

namespace Teleport.Cli.Tests;

/// <summary>
/// docker-compose.yml on secure defaults: NBD and the data channel over TLS, the bus over amqps, no default password,
/// and the material infra/compose-certs.sh makes is what the services' flags and mounts expect and what Teleport's own
/// loaders and a real NBD TLS handshake accept.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ComposeSecurityTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void No_service_serves_nbd_or_the_data_channel_or_the_bus_in_clear()
    {
        var config = Config();

        foreach (string storage in new[] { "storage-a", "storage-b" })
        {
            string[] command = Strings(Service(config, storage).GetProperty("command"));
            Assert.DoesNotContain("--nbd-insecure", command);
            Assert.Equal("/etc/teleport/nbd", command[Array.IndexOf(command, "--nbd-tls-dir") + 1]);
            Assert.Equal("/etc/teleport/data", command[Array.IndexOf(command, "--data-tls-dir") + 1]);
            string peer = storage == "storage-a" ? "storage-b" : "storage-a";
            Assert.Equal(peer, Service(config, storage).GetProperty("environment").GetProperty($"TELEPORT_STORAGE__PEERS__{peer}").GetString());
        }
        string[] host = Strings(Service(config, "host-1").GetProperty("command"));
        Assert.Equal("/etc/teleport/nbd", host[Array.IndexOf(host, "--nbd-tls-dir") + 1]);
        // The VM's volume on storage-a is open to host-1 alone.
        Assert.Equal("host-1", Service(config, "storage-a").GetProperty("environment").GetProperty("TELEPORT_STORAGE__EXPORTCLIENTS__vm1__0").GetString());
        // The broker has no plain AMQP port: only amqps and the management UI are published.
        string[] ports = Service(config, "rabbitmq").GetProperty("ports").EnumerateArray()
            .Select(p => p.ValueKind == System.Text.Json.JsonValueKind.String ? p.GetString()! : p.GetProperty("target").ToString()).ToArray();
        Assert.DoesNotContain(ports, p => p.Contains("5672:", StringComparison.Ordinal) && !p.Contains("15672", StringComparison.Ordinal));
        string brokerConf = File.ReadAllText(Path.Combine(RepositoryRoot(), "infra", "rabbitmq", "compose-tls.conf"));
        Assert.Contains("listeners.tcp = none", brokerConf);
        Assert.Contains("listeners.ssl.default = 5671", brokerConf);
    }

    [Fact]
    public void Every_tls_mount_is_a_directory_compose_certs_makes_with_the_files_its_flag_reads()
    {
        var config = Config();
        string tls = MakeCertificates();
        string root = Path.Combine(RepositoryRoot(), "tls");
        int mounts = 0;

        foreach (var service in config.GetProperty("services").EnumerateObject())
        {
            if (!service.Value.TryGetProperty("volumes", out var volumes))
                continue;
            foreach (string volume in Strings(volumes).Where(v => v.StartsWith(root + "/", StringComparison.Ordinal)))
            {
                string[] parts = volume.Split(':');
                string made = Path.Combine(tls, Path.GetRelativePath(root, parts[0]));
                string[] files = parts[1] switch
                {
                    "/etc/teleport/bus" => ["ca-cert.pem"],
                    "/etc/teleport/nbd" when service.Name == "host-1" => ["ca-cert.pem", "client-cert.pem", "client-key.pem"],
                    _ => ["ca-cert.pem", "server-cert.pem", "server-key.pem"],
                };
                foreach (string file in files)
                    Assert.True(File.Exists(Path.Combine(made, file)), $"{service.Name} mounts {volume}, but compose-certs.sh made no {file} there");
                Assert.Equal("ro", parts[^1]);
                mounts++;
            }
        }
        Assert.Equal(10, mounts);
    }

    [Fact]
    public async Task Compose_certs_makes_credentials_the_workers_accept_and_nbd_tls_connects_with_them()
    {
        string tls = MakeCertificates();
        string bus = $"amqps://teleport-storage:x@rabbitmq:5671/?ca={tls}/bus/ca-cert.pem";

        foreach (string storage in new[] { "storage-a", "storage-b" })
        {
            new StorageWorkerOptions
            {
                StorageId = storage, VolumeDirectory = _dir.File(storage), NbdListen = "0.0.0.0:0", Bus = bus,
                NbdTlsDirectory = Path.Combine(tls, storage, "nbd"), DataTlsDirectory = Path.Combine(tls, storage, "data"),
                Peers = { [storage == "storage-a" ? "storage-b" : "storage-a"] = "peer" },
            }.Validate();
            using var identity = DataChannelIdentity.Load(Path.Combine(tls, storage, "data"), storage);
            Assert.Equal($"CN={storage}", identity.Server.Subject);
        }
        // A data-channel certificate is no other storage's.
        Assert.Throws<ArgumentException>(() => DataChannelIdentity.Load(Path.Combine(tls, "storage-a", "data"), "storage-b"));
        new HostWorkerOptions { HostId = "host-1", NbdTlsDirectory = Path.Combine(tls, "host-1", "nbd") }.Validate();
        Assert.Equal("rabbitmq", BusAddress.Parse(bus, "Storage:Bus").Broker!.Host);
        AssertBrokerCertificate(tls);

        // host-1's client certificate opens storage-a's export over NBD TLS; its identity is the CN.
        string volume = _dir.File("vm1.img");
        File.WriteAllBytes(volume, new byte[1 << 20]);
        string? seen = null;
        var registry = new NbdExportRegistry();
        using var export = new FileNbdExport("vm1", volume, readOnly: false);
        registry.Add(export);
        await using var server = new NbdServer(registry, new NbdServerOptions
        {
            Tls = NbdTlsCredentials.ForServer(Path.Combine(tls, "storage-a", "nbd")),
            ExportAccess = (_, identity) => (seen = identity) == "host-1",
        });
        var endPoint = server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var client = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(Path.Combine(tls, "host-1", "nbd")) };
        await using (var nbd = await NbdClient.ConnectAsync(endPoint, "vm1", client))
            await nbd.WriteAsync(0, "compose"u8.ToArray(), fua: true);
        Assert.Equal("host-1", seen);
        Assert.Equal("compose"u8.ToArray(), File.ReadAllBytes(volume)[..7]);
    }

    [Fact]
    public void Compose_certs_keeps_existing_material_creates_keys_0600_and_renews_only_with_force()
    {
        string tls = MakeCertificates();
        string key = Path.Combine(tls, "storage-a", "nbd", "server-key.pem");
        byte[] first = File.ReadAllBytes(key);

        foreach (string file in Directory.GetFiles(tls, "*-key.pem", SearchOption.AllDirectories))
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(0, Script(tls).Code);
        Assert.Equal(first, File.ReadAllBytes(key));
        Assert.Equal(0, Script("--force", tls).Code);
        Assert.NotEqual(first, File.ReadAllBytes(key));
        Assert.NotEqual(0, Script("--bogus").Code);
    }

    private string MakeCertificates()
    {
        string tls = _dir.File("tls");
        var (code, _, error) = Script(tls);
        Assert.True(code == 0, $"infra/compose-certs.sh failed (exit {code}): {error}");
        return tls;
    }

    private static (int Code, string Stdout, string Stderr) Script(params string[] args) =>
        Run("bash", [Path.Combine(RepositoryRoot(), "infra", "compose-certs.sh"), .. args]);

    // What RabbitMQ presents to the roles chains to the bus CA they trust and names the host they dial.
    private static void AssertBrokerCertificate(string tls)
    {
        using var ca = Certificate(Path.Combine(tls, "bus", "ca-cert.pem"));
        using var broker = Certificate(Path.Combine(tls, "rabbitmq", "server-cert.pem"));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(broker), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.True(broker.MatchesHostname("rabbitmq"), "the broker's certificate does not name rabbitmq");
        Assert.True(broker.MatchesHostname("127.0.0.1"), "the broker's certificate does not name 127.0.0.1");
    }

    private static X509Certificate2 Certificate(string pemFile)
    {
        string pem = File.ReadAllText(pemFile);
        return X509CertificateLoader.LoadCertificate(Convert.FromBase64String(pem[PemEncoding.Find(pem).Base64Data]));
    }
}
