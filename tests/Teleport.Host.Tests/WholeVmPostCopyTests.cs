using Teleport.Contracts;
using Teleport.Host.Tests.Support;

namespace Teleport.Host.Tests;

/// <summary>
/// QEMU's postcopy-ram for a whole-VM move whose memory pre-copy cannot converge: refused with multifd. A move through
/// post-copy, with its link cut, is WholeVmPostCopyLinkCutTests (the destination runs before the rest of its memory
/// arrived, the writer carries on with every record intact); through the saga, the EndToEnd WholeVmMoveTests.
/// </summary>
public sealed partial class WholeVmMoveTests
{
    [Fact]
    public async Task PostCopyWithMultifd_IsRefused_OnBothHosts()
    {
        await using var rig = await WholeVmRig.StartAsync(_dir, 100, Run);
        var both = new MemoryMigrationOptions(Multifd: true, PostCopy: true);
        var migration = Guid.NewGuid();
        var described = Assert.IsType<VmDescribed>(await rig.DescribeAsync(migration));
        var incoming = Assert.IsType<HostOperationFailed>(await rig.PrepareAsync(migration, described.Definition, _dir.File("b.sock"), both));
        Assert.Contains("post-copy and multifd", incoming.Reason);
        var outgoing = Assert.IsType<HostOperationFailed>(await rig.MigrateAsync(migration, "127.0.0.1:4444", null, [], both));
        Assert.Contains("post-copy and multifd", outgoing.Reason);
    }
}
