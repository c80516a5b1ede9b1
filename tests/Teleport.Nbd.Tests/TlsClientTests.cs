using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tests.Support;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Tests;

/// <summary>Our client with TLS against the real qemu-nbd (--tls-creds, --tls-authz).</summary>
public sealed class TlsClientTests(TlsFixture tls) : IClassFixture<TlsFixture>, IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();

    [Fact]
    public async Task OurClient_OverTls_ReadsAndWritesQemuNbdWhichAuthorisesItsCn()
    {
        string file = Disk(0x21);
        await using var server = await QemuNbdProcess.StartAsync(file, "disk", "tls disk", QemuNbdTls(authorise: "host-a"));
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.HostA) };

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
    public async Task OurClient_WithAnIdentityQemuNbdDoesNotAuthorise_IsRefused()
    {
        string file = Disk(0x21);
        await using var server = await QemuNbdProcess.StartAsync(file, "disk", "tls disk", QemuNbdTls(authorise: "host-a"));
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.Intruder) };

        await Assert.ThrowsAnyAsync<NbdException>(() => NbdClient.ConnectAsync(server.EndPoint, "disk", options));
    }

    [Fact]
    public async Task OurClient_WithoutTls_GetsTlsRequiredFromQemuNbd()
    {
        await using var server = await QemuNbdProcess.StartAsync(Disk(0), "disk", "tls disk", QemuNbdTls(authorise: null));

        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(server.EndPoint, "disk"));

        Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, refused.Reply);
    }

    [Fact]
    public async Task OurClient_WithTls_DoesNotFallBackToAPlainQemuNbd()
    {
        await using var server = await QemuNbdProcess.StartAsync(Disk(0), "disk", "plain disk");
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.HostA) };

        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(server.EndPoint, "disk", options));

        Assert.Equal(NbdOption.StartTls, refused.Option);
    }

    public void Dispose() => _dir.Dispose();

    private string Disk(byte fill)
    {
        string path = _dir.File($"disk{Guid.NewGuid():N}.raw");
        byte[] bytes = new byte[MiB];
        Array.Fill(bytes, fill);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string[] QemuNbdTls(string? authorise)
    {
        var arguments = new List<string> { "--object", $"tls-creds-x509,id=tls0,endpoint=server,dir={tls.ServerDirectory}", "--tls-creds", "tls0" };
        if (authorise is not null)
        {
            arguments.AddRange(["--object", $"authz-simple,id=authz0,identity=CN={authorise}", "--tls-authz", "authz0"]);
        }

        return [.. arguments];
    }
}
