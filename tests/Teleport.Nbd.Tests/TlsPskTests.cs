using System.Security.Cryptography;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Tests;

/// <summary>
/// NBD over TLS-PSK: our server against the real qemu-io (tls-creds-psk, GnuTLS) and our client against the real
/// qemu-nbd; wrong keys and unknown identities refused, the identity checked against the per-export grants.
/// </summary>
public sealed class TlsPskTests : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();
    private readonly string _hostAKey = NewKey();
    private readonly string _intruderKey = NewKey();

    [Fact]
    public async Task QemuIo_OverPsk_WritesAndReadsBackOurExport()
    {
        await using var harness = ServerHarness.Start(ServerOptions());
        harness.AddExport("disk", 2 * MiB);

        var result = await QemuIoAsync(harness, KeysDirectory($"host-a:{_hostAKey}"), "host-a", "write -P 0xab 0 64k", "read -P 0xab 0 64k", "read -P 0 1M 4k");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("wrote 65536/65536 bytes", result.Output);
        Assert.DoesNotContain("Pattern verification failed", result.Output);
        Assert.All(harness.ReadBacking("disk")[..65536], b => Assert.Equal(0xab, b));
    }

    [Theory]
    [InlineData("wrong key")]
    [InlineData("unknown identity")]
    [InlineData("identity not allowed")]
    public async Task QemuIo_IsRefusedAndWritesNothing(string case_)
    {
        await using var harness = ServerHarness.Start(ServerOptions());
        harness.AddExport("disk", MiB, fill: _ => 0x33);
        (string line, string user) = case_ switch
        {
            "wrong key" => ($"host-a:{NewKey()}", "host-a"),
            "unknown identity" => ($"stranger:{_hostAKey}", "stranger"),
            _ => ($"intruder:{_intruderKey}", "intruder"),
        };

        var result = await QemuIoAsync(harness, KeysDirectory(line), user, "write -P 0xab 0 4k");

        Assert.True(result.ExitCode != 0, result.Output);
        Assert.DoesNotContain("wrote", result.Output);
        Assert.All(harness.ReadBacking("disk"), b => Assert.Equal(0x33, b));
        Assert.Equal(0, harness.Server.ClientsOf("disk"));
    }

    [Fact]
    public async Task OurClient_OverPsk_ReadsAndWritesQemuNbd()
    {
        string file = Disk(0x21);
        string keys = KeysDirectory($"host-a:{_hostAKey}", $"intruder:{_intruderKey}");
        await using var server = await QemuNbdProcess.StartAsync(file, "disk", "psk disk", QemuNbdPsk(keys));
        var options = new NbdClientOptions { Tls = NbdPskCredentials.ForClient(KeysFile(keys), "host-a") };

        await using (var client = await NbdClient.ConnectAsync(server.EndPoint, "disk", options))
        {
            byte[] read = new byte[8192];
            await client.ReadAsync(0, read);
            Assert.All(read, b => Assert.Equal(0x21, b));
            await client.WriteAsync(MiB / 2, new byte[] { 9, 8, 7 }, fua: true);
        }

        Assert.Equal([9, 8, 7], (await File.ReadAllBytesAsync(file))[(MiB / 2)..(MiB / 2 + 3)]);
    }

    [Fact]
    public async Task OurClient_WithWrongKeyOrUnknownIdentity_IsRefusedByQemuNbd()
    {
        string file = Disk(0x21);
        await using var server = await QemuNbdProcess.StartAsync(file, "disk", "psk disk", QemuNbdPsk(KeysDirectory($"host-a:{_hostAKey}")));
        var wrongKey = NbdPskCredentials.ForClient(KeysFile(KeysDirectory($"host-a:{NewKey()}")), "host-a");
        var unknown = NbdPskCredentials.ForClient(KeysFile(KeysDirectory($"stranger:{_hostAKey}")), "stranger");

        await Assert.ThrowsAsync<NbdConnectionException>(() => NbdClient.ConnectAsync(server.EndPoint, "disk", new NbdClientOptions { Tls = wrongKey }));
        await Assert.ThrowsAsync<NbdConnectionException>(() => NbdClient.ConnectAsync(server.EndPoint, "disk", new NbdClientOptions { Tls = unknown }));
    }

    [Fact]
    public async Task OurClient_OverPskToOurServer_OpensOnlyWhatItsIdentityIsGranted()
    {
        await using var harness = ServerHarness.Start(ServerOptions());
        harness.AddExport("disk", MiB);
        harness.AddExport("shared", MiB);
        string keys = KeysFile(KeysDirectory($"host-a:{_hostAKey}", $"intruder:{_intruderKey}"));
        var hostA = NbdPskCredentials.ForClient(keys, "host-a");
        var intruder = NbdPskCredentials.ForClient(keys, "intruder");

        await using (var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk", new NbdClientOptions { Tls = hostA }))
        {
            byte[] data = RandomNumberGenerator.GetBytes(300_000);
            await client.WriteAsync(4096, data, fua: true);
            byte[] back = new byte[data.Length];
            await client.ReadAsync(4096, back);
            Assert.Equal(data, back);
        }

        Assert.Equal(["disk", "shared"], (await NbdClient.ListExportsAsync(harness.EndPoint, hostA)).Select(e => e.Name));
        Assert.Equal(["shared"], (await NbdClient.ListExportsAsync(harness.EndPoint, intruder)).Select(e => e.Name));
        var denied = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "disk", new NbdClientOptions { Tls = intruder }));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, denied.Reply);
    }

    [Theory]
    [InlineData("host-a", "no ':'")]
    [InlineData("host-a:abc", "odd hex")]
    [InlineData("host-a:zz", "not hex")]
    [InlineData("host a:00", "space in the identity")]
    [InlineData("host-a:00\nhost-a:01", "twice")]
    [InlineData("", "empty")]
    public void MalformedKeyFile_IsAClearErrorNamingTheFile(string content, string what)
    {
        string file = _dir.File($"bad{Guid.NewGuid():N}.psk");
        File.WriteAllText(file, content);

        var error = Assert.Throws<InvalidDataException>(() => NbdPskCredentials.ForServer(file));

        Assert.Contains(file, error.Message);
        // The key material is never echoed (the file's random name may hold those letters: it is left out).
        Assert.DoesNotContain("abc", error.Message.Replace(file, "", StringComparison.Ordinal));
        Assert.False(string.IsNullOrEmpty(what));
    }

    [Fact]
    public void ClientIdentityMissingFromTheFile_IsAClearError()
    {
        string file = KeysFile(KeysDirectory($"host-a:{_hostAKey}"));

        var error = Assert.Throws<InvalidDataException>(() => NbdPskCredentials.ForClient(file, "host-b"));

        Assert.Contains("host-b", error.Message);
        Assert.DoesNotContain(_hostAKey, error.Message);
    }

    public void Dispose() => _dir.Dispose();

    private static string NewKey() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    private NbdServerOptions ServerOptions() => new()
    {
        Tls = NbdPskCredentials.ForServer(KeysFile(KeysDirectory($"host-a:{_hostAKey}", $"intruder:{_intruderKey}"))),
        ExportAccess = (export, identity) => export == "shared" || (export == "disk" && identity == "host-a"),
    };

    /// <summary>A directory in the layout of QEMU's tls-creds-psk dir=: keys.psk with the given lines.</summary>
    private string KeysDirectory(params string[] lines)
    {
        string directory = _dir.File($"psk{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        File.WriteAllLines(KeysFile(directory), lines);
        return directory;
    }

    private static string KeysFile(string directory) => Path.Combine(directory, NbdPskCredentials.KeysFile);

    private string Disk(byte fill)
    {
        string path = _dir.File($"disk{Guid.NewGuid():N}.raw");
        byte[] bytes = new byte[MiB];
        Array.Fill(bytes, fill);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string[] QemuNbdPsk(string keysDirectory) =>
        ["--object", $"tls-creds-psk,id=tls0,endpoint=server,dir={keysDirectory}", "--tls-creds", "tls0"];

    private static Task<ProcessResult> QemuIoAsync(ServerHarness harness, string keysDirectory, string user, params string[] commands)
    {
        var arguments = new List<string>
        {
            "--object", $"tls-creds-psk,id=tls0,endpoint=client,dir={keysDirectory},username={user}",
            "--image-opts", $"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={harness.EndPoint.Port},export=disk,tls-creds=tls0",
        };
        foreach (string command in commands)
        {
            arguments.AddRange(["-c", command]);
        }

        return QemuTools.RunAsync(QemuTools.QemuIo, [.. arguments]);
    }
}
