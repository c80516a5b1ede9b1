using Teleport.Contracts;
using Teleport.Host.Tests.Support;

namespace Teleport.Host.Tests;

/// <summary>
/// QEMU's postcopy-ram for a whole-VM move whose memory pre-copy cannot converge: the guest rewrites memory faster than
/// the migration's bandwidth cap carries it, so the source host starts post-copy, the destination runs before the rest
/// of its memory arrived, and the guest's writer carries on there with every record intact.
/// </summary>
public sealed partial class WholeVmMoveTests
{
    [Fact]
    public async Task GuestDirtyingMemoryFasterThanTheLink_MovesWhole_ThroughPostCopy_WriterCarriesOn()
    {
        const int records = 4000;
        // Paced, 20 ms a record (at least 80 s): still writing when the VM moves however fast the machine runs the guest
        // (unpaced, an idle machine's guest wrote its 6,000 records before the pre-copy gave up, and powered off).
        await using var rig = await WholeVmRig.StartAsync(_dir, records, Run, dirtyMiB: 24, delayMicroseconds: 20_000);
        // 4 MiB/s against a guest rewriting 24 MiB in a loop: every pass leaves the whole 24 MiB dirty.
        await MoveWholeAsync(rig, new MemoryMigrationOptions(PostCopyAfterRounds: 2), bandwidth: 4L << 20, postCopy: true, records: records);
    }

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
