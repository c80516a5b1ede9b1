using System.Buffers.Binary;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

public class DestinationStateTests
{
    [Fact]
    public void Round_trips_and_detects_damage()
    {
        using var dir = new TempDir();
        string path = dir.File("state");
        var state = new DestinationState(Guid.NewGuid(), Guid.NewGuid(), new VolumeGeometry(1000 * 4096 + 5, 4096), fresh: true)
        {
            Phase = Protocol.DestinationPhase.Copy,
            IndexCursor = 1001,
            DurableSeq = 42,
        };
        state.Presence.SetRange(3, 200);
        state.Presence.Set(1000);
        state.Save(path);

        var loaded = DestinationState.Load(path)!;
        Assert.Equal(state.MigrationId, loaded.MigrationId);
        Assert.Equal(state.SourceSessionId, loaded.SourceSessionId);
        Assert.Equal(state.Geometry, loaded.Geometry);
        Assert.True(loaded.Fresh);
        Assert.Equal(Protocol.DestinationPhase.Copy, loaded.Phase);
        Assert.Equal(42, loaded.DurableSeq);
        Assert.Equal(201, loaded.Presence.Count);
        Assert.True(loaded.Presence.Test(1000) && loaded.Presence.Test(3) && !loaded.Presence.Test(2));

        byte[] bytes = File.ReadAllBytes(path);
        bytes[50] ^= 1;
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => DestinationState.Load(path));
        File.WriteAllBytes(path, bytes[..20]);
        Assert.Throws<InvalidDataException>(() => DestinationState.Load(path));
        Assert.Null(DestinationState.Load(dir.File("absent")));
    }

    [Fact]
    public void Bitmap_runs_and_ranges()
    {
        var bitmap = new BlockBitmap(300);
        bitmap.SetRange(10, 120);
        bitmap.Set(299);
        Assert.Equal(121, bitmap.Count);
        Assert.Equal([new BlockRun(10, 120), new BlockRun(299, 1)], bitmap.Runs().ToArray());
        bitmap.ClearRange(0, 128);
        Assert.Equal([new BlockRun(128, 2), new BlockRun(299, 1)], bitmap.Runs().ToArray());
        Assert.Equal(3, bitmap.Count);
        Assert.Equal(130, bitmap.NextClear(128));
        Assert.Equal(-1, bitmap.NextSet(300));
    }
}
