using Teleport.Contracts;
using Teleport.Host.Moves;
using Teleport.Host.Tests.Support;
using Teleport.Host.Worker;

namespace Teleport.Host.Tests;

/// <summary>What a destination host accepts as a VM definition from the bus, and the reasons it gives when it does not.</summary>
public sealed class VmDefinitionValidatorTests : IDisposable
{
    private const long Memory = 256L * 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private HostWorkerOptions Host() => new() { HostId = "dest", BootFileDirectories = { "/boot/guest" }, StateDirectory = _dir.File("state") };

    private static VmDefinition Definition(params string[] extra) =>
        new(["-machine", "q35", "-m", "256", "-nodefaults", "-serial", "stdio", "-kernel", "/boot/guest/vmlinuz", .. extra, "-device", "virtio-blk-pci,drive=disk0"],
            "disk0", 1 << 20, Memory);

    [Fact]
    public void MachineAndDevices_AreAccepted() => Assert.Null(VmDefinitionValidator.Check(Definition("-smp", "2", "-no-reboot", "-netdev", "user,id=n0"), Host()));

    [Theory]
    [InlineData("-incoming", "tcp:0:4444", "option -incoming is refused")]
    [InlineData("-qmp", "unix:/tmp/x,server=on", "option -qmp is refused")]
    [InlineData("-monitor", "stdio", "option -monitor is refused")]
    [InlineData("-chardev", "socket,id=c,path=/etc/x", "option -chardev is refused")]
    [InlineData("-daemonize", null, "option -daemonize is refused")]
    [InlineData("-snapshot", null, "option -snapshot is refused")]
    [InlineData("-loadvm", "snap", "option -loadvm is refused")]
    [InlineData("-drive", "file=/etc/shadow", "option -drive is refused")]
    [InlineData("-readconfig", "/etc/x", "'-readconfig' is not allowed")]
    [InlineData("-serial", "unix:/tmp/s", "-serial unix:/tmp/s is refused")]
    [InlineData("-netdev", "tap,id=n,script=/bin/sh", "-netdev may only be user networking")]
    [InlineData("-object", "secret,id=s,file=/etc/shadow", "-object may only be memory-backend-ram")]
    [InlineData("-device", "e1000,romfile=/etc/shadow", "names a host file or socket")]
    [InlineData("-initrd", "/etc/shadow", "outside the host's boot file directories")]
    [InlineData("-initrd", "/boot/guest/../../etc/shadow", "absolute, normalised path")]
    [InlineData("-append", "a\nb", "control characters")]
    [InlineData("-name", null, "option -name needs a value")]
    public void BadOptions_AreRefused_WithTheReason(string option, string? value, string reason)
    {
        string[] extra = value is null ? [option] : [option, value];
        var definition = Definition(extra);
        if (value is null && option == "-name")
            definition = definition with { Arguments = [.. Definition().Arguments, "-name"] };
        Assert.Contains(reason, VmDefinitionValidator.Check(definition, Host()));
    }

    [Fact]
    public void DiskDevice_NodeName_AndSizes_AreChecked()
    {
        Assert.Contains("no -device refers to the disk node 'disk1'", VmDefinitionValidator.Check(Definition() with { DiskNodeName = "disk1" }, Host()));
        Assert.Contains("must start with a letter", VmDefinitionValidator.Check(Definition() with { DiskNodeName = "0,file=x" }, Host()));
        Assert.Contains("-m gives 268435456 bytes", VmDefinitionValidator.Check(Definition() with { MemoryBytes = 1 << 20 }, Host()));
        Assert.Contains("must be positive", VmDefinitionValidator.Check(Definition() with { DiskBytes = 0 }, Host()));
        Assert.Contains("missing its arguments", VmDefinitionValidator.Check(null, Host()));
    }

    [Theory]
    [InlineData("256", 256L << 20)]
    [InlineData("2G", 2L << 30)]
    [InlineData("size=512M,slots=2,maxmem=1G", 512L << 20)]
    [InlineData("lots", -1L)]
    public void MemorySize_IsReadFromDashM(string value, long bytes) =>
        Assert.Equal(bytes, VmDefinitionValidator.MemoryBytes(["-machine", "q35", "-m", value]));

    [Fact]
    public async Task PrepareIncomingVm_WithABadDefinition_FailsWithTheReason_AndStartsNothing()
    {
        var options = Host();
        await using var node = new HostWorkerNode(options, new NoServices(),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, TimeProvider.System);
        var bad = Definition("-monitor", "tcp:0.0.0.0:4444,server=on");
        var failed = Assert.IsType<HostOperationFailed>(await node.Incoming.PrepareAsync(
            new PrepareIncomingVm(Guid.NewGuid(), "vm1", "dest", "src", bad, "store-b", "unix:/tmp/none.sock", "vol"), CancellationToken.None));
        Assert.Equal(HostOperationNames.PrepareIncoming, failed.Operation);
        Assert.Contains("the VM definition is refused: option -monitor is refused", failed.Reason);
        Assert.False(node.Vms.ContainsKey("vm1"));
        Assert.False(Directory.Exists(options.StateDirectory));

        var unsafeExport = Assert.IsType<HostOperationFailed>(await node.Incoming.PrepareAsync(
            new PrepareIncomingVm(Guid.NewGuid(), "vm1", "dest", "src", Definition(), "store-b", "unix:/tmp/none.sock", "vol,file=/etc/x"), CancellationToken.None));
        Assert.Contains("without commas", unsafeExport.Reason);

        // A storage this host does not know: the endpoint the message names is never used on its own.
        var unknownStorage = Assert.IsType<HostOperationFailed>(await node.Incoming.PrepareAsync(
            new PrepareIncomingVm(Guid.NewGuid(), "vm1", "dest", "src", Definition(), "store-x", "unix:/tmp/rogue.sock", "vol"), CancellationToken.None));
        Assert.Contains("storage 'store-x' is not configured on this host", unknownStorage.Reason);
        Assert.False(node.Vms.ContainsKey("vm1"));
        Assert.False(Directory.Exists(options.StateDirectory));
    }

    [Fact]
    public void HostSettings_OfMoves_AreValidated()
    {
        var wildcard = new HostWorkerOptions { HostId = "h", MigrationListen = "0.0.0.0:4444" };
        Assert.Contains("MigrationAdvertise is required", Assert.Throws<ArgumentException>(wildcard.Validate).Message);
        var badPeer = new HostWorkerOptions { HostId = "h", Peers = { ["h2"] = "10.0.0.1:4444/x" } };
        Assert.Contains("Host:Peers:h2", Assert.Throws<ArgumentException>(badPeer.Validate).Message);

        // A memory listener off loopback needs TLS or an explicit opt-out; loopback may stay plain.
        var plain = new HostWorkerOptions { HostId = "h", MigrationListen = "10.0.0.5:4444" };
        Assert.Contains("Host:MigrationListen '10.0.0.5:4444' is reachable from the network", Assert.Throws<ArgumentException>(plain.Validate).Message);
        new HostWorkerOptions { HostId = "h", MigrationListen = "10.0.0.5:4444", MigrationTlsDirectory = "/etc/teleport/migration" }.Validate();
        new HostWorkerOptions { HostId = "h", MigrationListen = "10.0.0.5:4444", MigrationInsecure = true }.Validate();
        new HostWorkerOptions { HostId = "h", MigrationListen = "127.0.0.1:0" }.Validate();
    }

    private sealed class NoServices : IServiceProvider
    {
        public object? GetService(Type serviceType) => null;
    }
}
