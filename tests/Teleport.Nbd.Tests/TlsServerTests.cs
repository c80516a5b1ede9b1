using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tests.Support;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Tests;

/// <summary>Our server with TLS, driven by the real qemu-io / qemu-img (tls-creds-x509) and by our client.</summary>
public sealed class TlsServerTests(TlsFixture tls) : IClassFixture<TlsFixture>
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task QemuIo_OverTls_WritesAndReadsBack()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", 4 * MiB);

        var result = await QemuIoAsync(harness, tls.HostA, "disk", "write -P 0xab 0 64k", "write -P 0x5c 1M 4k", "read -P 0xab 0 64k", "read -P 0x5c 1M 4k", "read -P 0 2M 4k");

        Assert.True(result.ExitCode == 0 && !result.Failed, result.Output);
        byte[] backing = harness.ReadBacking("disk");
        Assert.All(backing[..65536], b => Assert.Equal(0xab, b));
        Assert.All(backing[MiB..(MiB + 4096)], b => Assert.Equal(0x5c, b));
    }

    [Fact]
    public async Task QemuImg_OverTls_ConvertsTheExportByteForByte()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB, fill: i => (byte)(i * 7 % 251));
        string copy = Path.Combine(harness.Directory, "copy.raw");

        var result = await QemuTools.RunAsync(QemuTools.QemuImg, "convert", "--object", CredsObject(tls.HostA), "--image-opts", ImageOpts(harness, "disk"), "-O", "raw", copy);

        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
        Assert.Equal(harness.ReadBacking("disk"), await File.ReadAllBytesAsync(copy));
    }

    [Fact]
    public async Task QemuIo_WithoutClientCertificate_IsRefusedAndWritesNothing()
    {
        await AssertQemuIoRefusedAsync(tls.CaOnly, "disk");
    }

    [Fact]
    public async Task QemuIo_WithCertificateFromAnotherCa_IsRefusedAndWritesNothing()
    {
        await AssertQemuIoRefusedAsync(tls.OtherCaClient, "disk");
    }

    [Fact]
    public async Task QemuIo_WithIdentityNotAllowedForTheExport_IsRefusedAndWritesNothing()
    {
        await AssertQemuIoRefusedAsync(tls.Intruder, "disk");
    }

    [Fact]
    public async Task QemuIo_WithoutTls_IsRefusedAndWritesNothing()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);

        var result = await QemuTools.RunAsync(QemuTools.QemuIo, "-f", "raw", harness.Url("disk"), "-c", "write -P 0xab 0 4k");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("TLS", result.Stdout + result.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.All(harness.ReadBacking("disk"), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task OurClient_OverTls_ReadsWritesAndListsOnlyAllowedExports()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);
        harness.AddExport("shared", MiB);
        harness.AddExport("secret", MiB);
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.HostA) };

        await using (var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk", options))
        {
            await client.WriteAsync(4096, new byte[] { 1, 2, 3, 4 }, fua: true);
            byte[] back = new byte[4];
            await client.ReadAsync(4096, back);
            Assert.Equal(new byte[] { 1, 2, 3, 4 }, back);
        }

        Assert.Equal([1, 2, 3, 4], harness.ReadBacking("disk")[4096..4100]);
        var listed = await NbdClient.ListExportsAsync(harness.EndPoint, options.Tls);
        Assert.Equal(["disk", "shared"], listed.Select(e => e.Name));
        var intruderListed = await NbdClient.ListExportsAsync(harness.EndPoint, NbdTlsCredentials.ForClient(tls.Intruder));
        Assert.Equal(["shared"], intruderListed.Select(e => e.Name));
    }

    [Fact]
    public async Task OurClient_WithIdentityNotAllowed_GetsUnknownExportLikeAMissingOne()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.Intruder) };

        var denied = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "disk", options));
        var missing = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "nothing", options));

        Assert.Equal(NbdOptionReplyType.ErrorUnknown, denied.Reply);
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, missing.Reply);
        Assert.Equal(0, harness.Server.ClientsOf("disk"));
    }

    [Fact]
    public async Task OurClient_WithCertificateFromAnotherCa_IsRefused()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.OtherCaClient) };

        await Assert.ThrowsAnyAsync<NbdException>(() => NbdClient.ConnectAsync(harness.EndPoint, "disk", options));
        Assert.Equal(0, harness.Server.ClientsOf("disk"));
    }

    [Fact]
    public async Task OurClient_RefusesAServerWhoseCertificateIsFromAnotherCa()
    {
        await using var harness = ServerHarness.Start(new() { Tls = NbdTlsCredentials.ForServer(tls.OtherCaServer) });
        harness.AddExport("disk", MiB);
        var options = new NbdClientOptions { Tls = NbdTlsCredentials.ForClient(tls.HostA) };

        var refused = await Assert.ThrowsAsync<NbdConnectionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "disk", options));
        Assert.Contains("TLS handshake", refused.Message);
    }

    [Fact]
    public async Task PlainClient_GetsTlsRequiredForListAndGo()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);

        var list = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ListExportsAsync(harness.EndPoint));
        var go = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "disk"));

        Assert.Equal((NbdOption.List, NbdOptionReplyType.ErrorTlsRequired), (list.Option, list.Reply));
        Assert.Equal((NbdOption.Go, NbdOptionReplyType.ErrorTlsRequired), (go.Option, go.Reply));
    }

    [Fact]
    public async Task PlainRawClient_GetsTlsRequiredForEveryOptionAndIsHungUpOnForExportName()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();

        foreach (var option in new[] { NbdOption.Info, NbdOption.StructuredReply, NbdOption.List, NbdOption.Go, NbdOption.ListMetaContext })
        {
            byte[] data = option is NbdOption.Info or NbdOption.Go ? NbdOptionCodec.BuildInfoRequest("disk", []) : [];
            await raw.SendOptionAsync(option, data);
            (var type, byte[] text) = await raw.ReadOptionReplyAsync(option);
            Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, type);
            Assert.DoesNotContain("disk", RawNbdConnection.Text(text));
        }

        await raw.SendOptionAsync(NbdOption.ExportName, "disk"u8.ToArray());
        Assert.True(await raw.IsClosedByServerAsync());
        Assert.Equal(0, harness.Server.ClientsOf("disk"));
    }

    [Fact]
    public async Task StartTls_WithData_IsInvalidAndWithoutTlsConfiguredIsUnsupported()
    {
        await using var secured = ServerHarness.Start(tls.ServerOptions());
        await using var plain = ServerHarness.Start();
        await using var toSecured = await RawNbdConnection.ConnectAsync(secured.EndPoint);
        await using var toPlain = await RawNbdConnection.ConnectAsync(plain.EndPoint);
        await toSecured.GreetAsync();
        await toPlain.GreetAsync();

        await toSecured.SendOptionAsync(NbdOption.StartTls, [1]);
        await toPlain.SendOptionAsync(NbdOption.StartTls, []);

        Assert.Equal(NbdOptionReplyType.ErrorInvalid, (await toSecured.ReadOptionReplyAsync(NbdOption.StartTls)).Type);
        Assert.Equal(NbdOptionReplyType.ErrorUnsupported, (await toPlain.ReadOptionReplyAsync(NbdOption.StartTls)).Type);
    }

    private async Task AssertQemuIoRefusedAsync(string clientDirectory, string export)
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport(export, MiB, fill: _ => 0x33);

        var result = await QemuIoAsync(harness, clientDirectory, export, "write -P 0xab 0 4k");

        Assert.True(result.ExitCode != 0 || result.Failed, result.Output);
        Assert.DoesNotContain("wrote", result.Output);
        Assert.All(harness.ReadBacking(export), b => Assert.Equal(0x33, b));
        Assert.Equal(0, harness.Server.ClientsOf(export));
    }

    private static async Task<(int ExitCode, bool Failed, string Output)> QemuIoAsync(ServerHarness harness, string clientDirectory, string export, params string[] commands)
    {
        var arguments = new List<string> { "--object", CredsObject(clientDirectory), "--image-opts", ImageOpts(harness, export) };
        foreach (string command in commands)
        {
            arguments.Add("-c");
            arguments.Add(command);
        }

        var result = await QemuTools.RunAsync(QemuTools.QemuIo, [.. arguments]);
        string output = result.Stdout + result.Stderr;
        bool failed = output.Contains("failed", StringComparison.OrdinalIgnoreCase) || output.Contains("error", StringComparison.OrdinalIgnoreCase)
                      || output.Contains("Pattern verification", StringComparison.OrdinalIgnoreCase);
        return (result.ExitCode, failed, output);
    }

    private static string CredsObject(string directory) => $"tls-creds-x509,id=tls0,endpoint=client,dir={directory}";

    private static string ImageOpts(ServerHarness harness, string export) =>
        $"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={harness.EndPoint.Port},export={export},tls-creds=tls0";
}
