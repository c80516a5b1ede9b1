using Microsoft.Extensions.Configuration;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests;

public sealed class HostWorkerOptionsTests
{
    private static HostWorkerOptions Valid() => new HostWorkerOptions { HostId = "hv-1", Bus = "rabbitmq://u:p@mq:5672/" }
        .AddVm("vm42", new HostVmOptions { QmpSocket = "/run/vm42.qmp", DiskListen = "unix:/run/vm42.nbd", StorageId = "ams-1", Upstream = "ams-1.example:10809", Export = "vm42" });

    [Fact]
    public void BindsTheHostSection_AsRolesMdNamesTheKeys()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Host:HostId"] = "hv-1",
            ["Host:Bus"] = "memory",
            ["Host:Vms:vm42:QmpSocket"] = "/run/vm42.qmp",
            ["Host:Vms:vm42:DiskListen"] = "127.0.0.1:10900",
            ["Host:Vms:vm42:StorageId"] = "ams-1",
            ["Host:Vms:vm42:Upstream"] = "[::1]:10809",
            ["Host:Vms:vm42:Export"] = "vm42",
            ["Host:SwitchRetryWindow"] = "00:00:05",
            ["Host:Storages:fra-2:Nbd"] = "fra-2.example:10809",
        }).Build();
        var options = new HostWorkerOptions();
        configuration.GetSection(HostWorkerOptions.SectionName).Bind(options);
        options.Validate();
        var vm = Assert.Single(options.Vms);
        Assert.Equal(("vm42", "/run/vm42.qmp", "127.0.0.1:10900", "ams-1", "[::1]:10809", "vm42"),
            (vm.Key, vm.Value.QmpSocket, vm.Value.DiskListen, vm.Value.StorageId, vm.Value.Upstream, vm.Value.Export));
        Assert.Null(vm.Value.Hypervisor);
        Assert.Equal(TimeSpan.FromSeconds(5), options.SwitchRetryWindow);
        Assert.Equal("fra-2.example:10809", Assert.Single(options.Storages).Value.Nbd);
    }

    public static TheoryData<string, Action<HostWorkerOptions>> BadSettings() => new()
    {
        { "Host:HostId", o => o.HostId = "" },
        { "Host:HostId", o => o.HostId = "a b" },
        { "Host:Bus", o => o.Bus = "http://mq" },
        { "QmpSocket is required", o => o.Vms["vm42"].QmpSocket = null },
        { "must be an absolute path", o => o.Vms["vm42"].QmpSocket = "vm.qmp" },
        { "DiskListen", o => o.Vms["vm42"].DiskListen = "unix:relative.sock" },
        { "DiskListen", o => o.Vms["vm42"].DiskListen = "127.0.0.1" },
        { "Upstream", o => o.Vms["vm42"].Upstream = "host:99999" },
        { "StorageId", o => o.Vms["vm42"].StorageId = "" },
        { "Export is required", o => o.Vms["vm42"].Export = " " },
        { "VM id", o => o.Vms["bad id"] = o.Vms["vm42"] },
        { "share DiskListen", o => o.Vms["vm43"] = new HostVmOptions { QmpSocket = "/q", DiskListen = "unix:/run/vm42.nbd", StorageId = "s", Upstream = "h:1", Export = "e" } },
        { "ConcurrentCommands", o => o.ConcurrentCommands = 0 },
        { "Host:Storages:fra-2:Nbd", o => o.AddStorage("fra-2", "unix:relative.sock") },
        { "Host:Storages:fra-2:Nbd", o => o.AddStorage("fra-2", "") },
        { "storage id 'a b'", o => o.AddStorage("a b", "fra-2.example:10809") },
        { "SwitchRetryInterval", o => o.SwitchRetryInterval = TimeSpan.Zero },
        { "Host:MigrationRecoveryWindow", o => o.MigrationRecoveryWindow = TimeSpan.Zero },
        { "Host:MigrationRecoveryWindow", o => o.MigrationRecoveryWindow = TimeSpan.FromHours(2) },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void Validate_NamesTheBadSetting(string named, Action<HostWorkerOptions> spoil)
    {
        var options = Valid();
        options.Validate();
        spoil(options);
        var error = Assert.ThrowsAny<ArgumentException>(options.Validate);
        Assert.Contains(named, error.Message);
    }

    [Fact]
    public void ASuppliedHypervisor_ReplacesTheQmpSocket()
    {
        var options = Valid();
        options.Vms["vm42"].QmpSocket = null;
        options.Vms["vm42"].UseHypervisor(new ScriptedHypervisor());
        options.Validate();
    }

    [Theory]
    [InlineData("unix:/run/x.sock", "/run/x.sock", null, 0)]
    [InlineData("127.0.0.1:10809", null, "127.0.0.1", 10809)]
    [InlineData("[::1]:10809", null, "::1", 10809)]
    [InlineData("storage-a.example:1", null, "storage-a.example", 1)]
    public void NbdAddress_Parses(string text, string? path, string? host, int port)
    {
        Assert.True(NbdAddress.TryParse(text, out var address));
        Assert.Equal((path, host, port), (address.UnixPath, address.Host, address.Port));
    }

    [Theory]
    [InlineData("")]
    [InlineData("unix:")]
    [InlineData("unix:rel.sock")]
    [InlineData("host")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData(":10809")]
    [InlineData("::1:10809")]
    [InlineData("a b:10")]
    public void NbdAddress_RefusesGarbage(string text) => Assert.False(NbdAddress.TryParse(text, out _));
}
