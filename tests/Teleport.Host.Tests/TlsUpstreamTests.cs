using System.Net;
using System.Net.Sockets;
using Teleport.Host.Switching;
using Teleport.Host.Worker;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;

namespace Teleport.Host.Tests;

/// <summary>The path switcher's upstreams over NBD with TLS: real servers on TCP that allow only host "hv-7".</summary>
public sealed class TlsUpstreamTests : IAsyncLifetime
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();
    private readonly List<NbdServer> _servers = [];
    private readonly List<FileNbdExport> _exports = [];
    private TestCertificates _ca = null!;
    private NbdTlsCredentials _server = null!;
    private NbdTlsCredentials _hv7 = null!;

    public async Task InitializeAsync()
    {
        _ca = await TestCertificates.CreateAsync();
        _server = NbdTlsCredentials.ForServer(await _ca.ServerDirectoryAsync());
        _hv7 = NbdTlsCredentials.ForClient(await _ca.ClientDirectoryAsync("hv-7"));
    }

    public async Task DisposeAsync()
    {
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        _exports.ForEach(e => e.Dispose());
        _ca.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task The_switcher_writes_through_tls_upstreams_and_switches_between_them()
    {
        var a = Serve("a", allowed: "hv-7");
        var b = Serve("b", allowed: "hv-7");
        await using var switcher = await PathSwitcher.StartAsync(LocalSocket(), a, "vm-disk0", Options(_hv7));
        await using var vm = await NbdClient.ConnectAsync(switcher.LocalEndPoint, "vm-disk0");

        await vm.WriteAsync(0, new byte[] { 0xa1 }, fua: true);
        await switcher.SwitchAsync(b);
        await vm.WriteAsync(1, new byte[] { 0xb1 }, fua: true);

        Assert.Equal([0xa1, 0], File.ReadAllBytes(_dir.File("a.img"))[..2]);
        Assert.Equal([0, 0xb1], File.ReadAllBytes(_dir.File("b.img"))[..2]);
    }

    [Fact]
    public async Task A_switch_to_an_upstream_that_does_not_allow_this_host_is_refused_and_the_old_one_stays()
    {
        var a = Serve("a", allowed: "hv-7");
        var elsewhere = Serve("b", allowed: "hv-8");
        await using var switcher = await PathSwitcher.StartAsync(LocalSocket(), a, "vm-disk0", Options(_hv7));
        await using var vm = await NbdClient.ConnectAsync(switcher.LocalEndPoint, "vm-disk0");

        var refused = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(elsewhere));
        await vm.WriteAsync(0, new byte[] { 0xa2 }, fua: true);

        Assert.Equal(PathSwitchFailure.NoSuchExport, refused.Failure);
        Assert.Equal(0xa2, File.ReadAllBytes(_dir.File("a.img"))[0]);
        Assert.Equal(0, File.ReadAllBytes(_dir.File("b.img"))[0]);
    }

    [Fact]
    public async Task A_switch_to_an_upstream_with_a_certificate_of_another_authority_is_refused_as_final_and_the_old_one_stays()
    {
        using var otherCa = await TestCertificates.CreateAsync("other-test-ca");
        var a = Serve("a", allowed: "hv-7");
        var impostor = Serve("b", allowed: "hv-7", NbdTlsCredentials.ForServer(await otherCa.ServerDirectoryAsync()));
        await using var switcher = await PathSwitcher.StartAsync(LocalSocket(), a, "vm-disk0", Options(_hv7));
        await using var vm = await NbdClient.ConnectAsync(switcher.LocalEndPoint, "vm-disk0");

        var refused = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(impostor));
        await vm.WriteAsync(0, new byte[] { 0xa3 }, fua: true);

        // Trying again cannot help, so the host does not spend its switch window on it.
        Assert.Equal(PathSwitchFailure.Refused, refused.Failure);
        Assert.False(refused.IsTransient);
        Assert.Contains("TLS handshake", refused.Message);
        Assert.Equal(0xa3, File.ReadAllBytes(_dir.File("a.img"))[0]);
        Assert.Equal(0, File.ReadAllBytes(_dir.File("b.img"))[0]);
    }

    [Fact]
    public async Task Without_credentials_the_switcher_cannot_start_on_a_tls_upstream()
    {
        var a = Serve("a", allowed: "hv-7");

        var refused = await Assert.ThrowsAsync<PathSwitchException>(() => PathSwitcher.StartAsync(LocalSocket(), a, "vm-disk0", Options(null)));

        Assert.Contains("TLS", refused.Message);
    }

    [Fact]
    public void The_host_worker_refuses_an_incomplete_tls_directory()
    {
        var options = new HostWorkerOptions { HostId = "hv-7", NbdTlsDirectory = _ca.CaOnlyDirectory() };

        Assert.Contains("Host:NbdTlsDirectory", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    private UpstreamTarget Serve(string name, string allowed, NbdTlsCredentials? credentials = null)
    {
        string path = _dir.File(name + ".img");
        using (var file = File.Create(path))
        {
            file.SetLength(MiB);
        }

        var export = new FileNbdExport("vol", path, readOnly: false);
        _exports.Add(export);
        var registry = new NbdExportRegistry();
        registry.Add(export);
        var server = new NbdServer(registry, new NbdServerOptions { Tls = credentials ?? _server, ExportAccess = (_, identity) => identity == allowed });
        _servers.Add(server);
        return new UpstreamTarget(server.Listen(new IPEndPoint(IPAddress.Loopback, 0)), "vol");
    }

    private UnixDomainSocketEndPoint LocalSocket() => new(_dir.File($"local{_servers.Count}.sock"));

    // No waiting for a missing export: a refusal is final here.
    private static PathSwitcherOptions Options(NbdTlsCredentials? tls) => new() { Client = new NbdClientOptions { Tls = tls } };
}
