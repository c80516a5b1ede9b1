using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>
/// A real QEMU (qemu-system-x86_64, no machine: only its block layer) whose NBD drive has <c>tls-creds</c>, against our
/// server: the drive reads and writes over TLS through QEMU's monitor; with no client certificate, or one from another
/// CA, QEMU cannot open the drive and nothing is written.
/// </summary>
public sealed class QemuGuestTlsTests(TlsFixture tls) : IClassFixture<TlsFixture>
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task QemuDrive_OverTls_WritesAndReadsOurExport()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", 4 * MiB, fill: i => i >= MiB ? (byte)0x5c : (byte)0);

        var result = await RunQemuAsync(harness, tls.HostA, "write -P 0xab 0 64k", "read -P 0xab 0 64k", "read -P 0x5c 1M 64k");

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("wrote 65536/65536 bytes", result.Output);
        Assert.Equal(2, CountOf(result.Output, "read 65536/65536 bytes"));
        Assert.DoesNotContain("Pattern verification failed", result.Output);
        Assert.All(harness.ReadBacking("disk")[..65536], b => Assert.Equal(0xab, b));
    }

    [Fact]
    public async Task QemuDrive_WithoutClientCertificateOrFromAnotherCa_CannotOpenTheExport()
    {
        await using var harness = ServerHarness.Start(tls.ServerOptions());
        harness.AddExport("disk", MiB, fill: _ => 0x33);

        foreach (string directory in new[] { tls.CaOnly, tls.OtherCaClient })
        {
            var result = await RunQemuAsync(harness, directory, "write -P 0xab 0 4k");

            Assert.True(result.ExitCode != 0, result.Output);
            Assert.DoesNotContain("wrote", result.Output);
        }

        Assert.All(harness.ReadBacking("disk"), b => Assert.Equal(0x33, b));
        Assert.Equal(0, harness.Server.ClientsOf("disk"));
    }

    /// <summary>Starts QEMU with the TLS drive and feeds its human monitor the qemu-io commands, then quit.</summary>
    private static Task<ProcessResult> RunQemuAsync(ServerHarness harness, string clientDirectory, params string[] commands)
    {
        string input = string.Concat(commands.Select(c => $"qemu-io disk0 \"{c}\"\n")) + "quit\n";
        return QemuTools.RunWithInputAsync(
            QemuTools.QemuSystem,
            input,
            "-machine", "none", "-nodefaults", "-display", "none", "-monitor", "stdio",
            "-object", $"tls-creds-x509,id=tls0,endpoint=client,dir={clientDirectory}",
            "-blockdev", $"driver=nbd,node-name=disk0,server.type=inet,server.host=127.0.0.1,server.port={harness.EndPoint.Port},export=disk,tls-creds=tls0");
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
