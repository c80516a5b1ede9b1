using Microsoft.Extensions.Configuration;
using Teleport.Cli.Commands;
using Teleport.Cli.Hosting;
using Teleport.Cli.Infrastructure;

namespace Teleport.Cli.Tests;

/// <summary>`teleport host` reads its settings from --config, TELEPORT_HOST__* and flags, and refuses bad ones in one line (exit 2).</summary>
public sealed class HostCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tph-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Vm(string id = "vm1") =>
        $"{id},qmp={_dir}/{id}.qmp,listen=unix:{_dir}/{id}.nbd,storage=ams-1,upstream=127.0.0.1:1,export={id}";

    [Theory]
    [InlineData("--id", "a/b", "Host:HostId 'a/b'")]
    [InlineData("--bus", "kafka://x", "Host:Bus 'kafka://x'")]
    [InlineData("--vm", "vm1", "--vm 'vm1' gives no settings")]
    [InlineData("--vm", "vm1,listen=unix:/l,storage=s,upstream=h:1,export=e", "Host:Vms:vm1:QmpSocket is required")]
    [InlineData("--vm", "vm1,qmp=/q,listen=nowhere,storage=s,upstream=h:1,export=e", "Host:Vms:vm1:DiskListen 'nowhere'")]
    [InlineData("--vm", "vm1,qmp=/q,listen=unix:/l,storage=s,upstream=h,export=e", "Host:Vms:vm1:Upstream 'h'")]
    [InlineData("--vm", "vm1,qmp=/q,listen=unix:/l,storage=s,upstream=h:1", "Host:Vms:vm1:Export is required")]
    [InlineData("--vm", "vm1,colour=red", "'colour=red' is not one of")]
    [InlineData("--vm", "vm1,qmp=/q,listen=unix:/l,storage=s,upstream=h:1,export=e,definition=vm1.json", "Host:Vms:vm1:DefinitionFile 'vm1.json' must be an absolute path")]
    [InlineData("--vm", "qmp=/q", "must start with the VM id")]
    [InlineData("--config", "/nonexistent/host.json", "settings file '/nonexistent/host.json' does not exist")]
    [InlineData("--nbd-memory-budget", "1M", "Host:NbdMemoryBudget (--nbd-memory-budget) 1048576 cannot hold the largest NBD request")]
    [InlineData("--nbd-memory-budget", "lots", "is not a size")]
    public void Bad_settings_are_one_clear_line(string option, string value, string message)
    {
        var args = new List<string> { "host", "--id", "hv-1", "--bus", "memory", "--vm", Vm() };
        int at = args.IndexOf(option);
        if (at < 0)
            args.AddRange([option, value]);
        else
            args[at + 1] = value;

        var run = CliRun.Of([.. args]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void No_vms_and_twice_the_same_vm_are_refused()
    {
        var none = CliRun.Of("host", "--id", "hv-1");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("no VMs", none.Stderr);

        var twice = CliRun.Of("host", "--id", "hv-1", "--vm", Vm(), "--vm", Vm());
        Assert.Equal(2, twice.ExitCode);
        Assert.Contains("--vm names VM 'vm1' twice", twice.Stderr);

        var shared = CliRun.Of("host", "--id", "hv-1", "--vm", Vm(), "--vm", Vm("vm2").Replace("vm2.nbd", "vm1.nbd"));
        Assert.Equal(2, shared.ExitCode);
        Assert.Contains("share DiskListen", shared.Stderr);
    }

    [Fact]
    public void Config_file_then_environment_then_flags()
    {
        string config = Path.Combine(_dir, "host.json");
        File.WriteAllText(config, $$"""
            { "Host": { "HostId": "from-file", "Bus": "rabbitmq://u:p@mq:5672/",
                        "Vms": { "vm42": { "QmpSocket": "/run/vm42.qmp", "DiskListen": "unix:/run/vm42.nbd", "StorageId": "ams-1",
                                           "Upstream": "ams-1:10809", "Export": "vm42" } } } }
            """);
        Environment.SetEnvironmentVariable("TELEPORT_HOST__VMS__vm42__UPSTREAM", "ams-2:10809");
        try
        {
            var settings = new HostSettings { ConfigFile = config, Id = "from-flag", Vms = [Vm("vm7")], NbdMemoryBudget = "64M" };
            var options = new HostWorkerHost().Options(settings.Configuration());

            Assert.Equal("from-flag", options.HostId);
            Assert.Equal(64L << 20, options.NbdMemoryBudget);
            Assert.Equal("rabbitmq://u:p@mq:5672/", options.Bus);
            Assert.Equal(["vm42", "vm7"], options.Vms.Keys.Order());
            Assert.Equal("ams-2:10809", options.Vms["vm42"].Upstream);
            Assert.Equal("/run/vm42.qmp", options.Vms["vm42"].QmpSocket);
            Assert.Equal($"unix:{_dir}/vm7.nbd", options.Vms["vm7"].DiskListen);
            Assert.Equal(("ams-1", "127.0.0.1:1", "vm7"), (options.Vms["vm7"].StorageId, options.Vms["vm7"].Upstream, options.Vms["vm7"].Export));
        }
        finally
        {
            Environment.SetEnvironmentVariable("TELEPORT_HOST__VMS__vm42__UPSTREAM", null);
        }
    }

    [Fact]
    public async Task Good_settings_start_a_worker_that_stops_cleanly_on_cancel()
    {
        // The storage worker is not up (port 1): the worker starts anyway and keeps trying to reach it.
        using var cancel = new CancellationTokenSource();
        var stdout = new StringWriter();
        var stderr = new SyncStringWriter();

        var run = Task.Run(() => TeleportApp.Run(["host", "--id", "hv-1", "--bus", "memory", "--vm", Vm()], stdout, stderr, interactive: false, cancel.Token));
        var until = DateTime.UtcNow.AddSeconds(60);
        // Cancel once the worker runs (a cancel during start-up ends it before "stopped" is ever logged).
        while (!stderr.ToString().Contains("Host worker hv-1 running") && !run.IsCompleted && DateTime.UtcNow < until)
            await Task.Delay(50);
        await cancel.CancelAsync();
        int code = await run;

        Assert.Equal(ExitCodes.Success, code);
        string log = stderr.ToString();
        Assert.Contains("Host worker hv-1 starting", log);
        Assert.Contains("disk path not up yet", log);
        Assert.Contains("Host worker hv-1 stopped", log);
    }
}
