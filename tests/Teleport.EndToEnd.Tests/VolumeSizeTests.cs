using System.Security.Cryptography;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// A request naming a volume size other than the source volume's, through the real saga and storage workers on the
/// broker: the migration fails with VolumeMismatch naming both sizes, loses nothing, and the right size then moves.
/// </summary>
public sealed class VolumeSizeTests(ITestOutputHelper output)
{
    private const long VolumeBytes = 4L << 20;

    [Fact]
    public async Task A_request_with_the_wrong_volume_size_fails_with_VolumeMismatch_and_the_source_is_intact()
    {
        await using var rig = await VolumeMoveRig.StartAsync(VolumeBytes);
        byte[] before = SHA256.HashData(await File.ReadAllBytesAsync(rig.SourceVolume));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var id = await rig.RequestAsync(new MigrationOptions(VolumeBytes: 2 * VolumeBytes));

        var failed = Assert.IsType<MigrationFailed>(await rig.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(60)));
        output.WriteLine($"migration {id} failed in {failed.Phase} after {clock.Elapsed.TotalSeconds:0.0} s: {failed.Reason}");
        Assert.Contains("VolumeMismatch", failed.Reason);
        Assert.Contains($"{2 * VolumeBytes} bytes", failed.Reason);
        Assert.Contains($"has {VolumeBytes}", failed.Reason);
        Assert.Null(rig.Watch.Last<IndexStreamed>(id));
        Assert.Equal(rig.Source.Id, rig.Host.Node.Vms[VolumeMoveRig.VmId].CurrentStorageId);
        Assert.True(rig.Vm.Running, "the VM does not run on the source after the refused move");
        Assert.Equal(before, SHA256.HashData(await File.ReadAllBytesAsync(rig.SourceVolume)));
        await rig.Watch.AbortedAsync(id, rig.Destination.Id, TimeSpan.FromSeconds(30));
        output.WriteLine($"destination aborted after {clock.Elapsed.TotalSeconds:0.0} s");
        foreach (var e in rig.Watch.Of(id))
            output.WriteLine($"  {e.ReceivedAt:HH:mm:ss.fff} {e.Message.GetType().Name}");
        Assert.False(File.Exists(rig.DestinationVolume), "the destination kept a volume of the refused move");

        // Nothing of the refused move stands in the way: the same volume with its real size moves.
        var retry = await rig.RequestAsync(new MigrationOptions(VolumeBytes: VolumeBytes));
        Assert.IsType<MigrationSucceeded>(await rig.Watch.OutcomeAsync(retry, TimeSpan.FromSeconds(60)));
        output.WriteLine($"the retry succeeded after {clock.Elapsed.TotalSeconds:0.0} s");
        await rig.AssertMovedAsync();
        Assert.Equal(before, SHA256.HashData(await File.ReadAllBytesAsync(rig.DestinationVolume)));
    }
}
