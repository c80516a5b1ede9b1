using System.Net;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport host --http-listen` beside a real QEMU (no guest: an empty machine, stopped): /readyz asks QEMU over QMP
/// and /metrics shows those QMP commands' latency; QEMU killed turns it not ready, a new QEMU on the socket ready again.
/// </summary>
public sealed class HostHttpTests : IDisposable
{
    private static readonly string[] EmptyMachine = ["-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S"];

    private readonly string _dir = Directory.CreateTempSubdirectory("tph-http-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Readiness_follows_qemu_and_metrics_show_qmp_latency()
    {
        string qmp = Path.Combine(_dir, "vm1.qmp");
        var qemu = await QemuProcess.StartAsync(qmp, EmptyMachine);
        int http = FreePort.Next();
        var stderr = new SyncStringWriter();
        using var stop = new CancellationTokenSource();
        // The storage worker is not up (port 1): the disk path waits for it, QMP does not.
        var run = Task.Run(() => TeleportApp.Run(
            ["host", "--id", "hv-http", "--bus", "memory", "--http-listen", $"127.0.0.1:{http}",
             "--vm", $"vm1,qmp={qmp},listen=unix:{_dir}/vm1.nbd,storage=ams-1,upstream=127.0.0.1:1,export=vm1"],
            new StringWriter(), stderr, interactive: false, stop.Token));
        try
        {
            string ready = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, run);
            Assert.Contains("\"qmp\"", ready);
            Assert.Contains("\"vm1\": \"prelaunch\"", ready);

            string metrics = (await RoleHttp.GetAsync(http, "/metrics")).Body;
            Assert.True(StorageHttpTests.Series(metrics, "teleport_host_qmp_command_duration_seconds_count", "qmp_command=\"query-status\"") >= 1, metrics);

            await qemu.DisposeAsync();
            string down = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.ServiceUnavailable, run);
            Assert.Contains("\"vm1\": \"unreachable\"", down);
            qemu = await QemuProcess.StartAsync(qmp, EmptyMachine);
            await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, run);
        }
        finally
        {
            await stop.CancelAsync();
            await qemu.DisposeAsync();
        }

        int exit = await run.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
    }
}
