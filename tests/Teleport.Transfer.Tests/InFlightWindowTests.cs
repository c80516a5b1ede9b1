using Teleport.Blocks;
using Teleport.Transfer.Protocol;
using Teleport.Transfer.Source;

namespace Teleport.Transfer.Tests;

/// <summary>The source's in-flight window and pending set, without sockets.</summary>
public class InFlightWindowTests
{
    private static List<BlockRun> Runs(PendingBlocks pending)
    {
        var runs = new List<BlockRun>();
        long cursor = 0;
        while (pending.TryTake(ref cursor, mayWrap: false, long.MaxValue, out long start, out long count))
            runs.Add(new BlockRun(start, count));
        return runs;
    }

    [Fact]
    public void Acks_retire_every_frame_up_to_their_sequence_number()
    {
        using var window = new InFlightWindow();
        Assert.Equal(1, window.Add([new DataRun(0, 4, false)], 100));
        Assert.Equal(2, window.Add([new DataRun(4, 4, true)], 30));
        Assert.Equal(3, window.Add([new DataRun(8, 1, false)], 5));
        Assert.Equal((135L, 3L, 3L), (window.UnackedBytes, window.LastSeq, window.LastSeqOnConnection));

        window.Acknowledge(2);
        Assert.Equal(5, window.UnackedBytes);
        window.Acknowledge(2); // a repeated Ack changes nothing
        Assert.Equal(5, window.UnackedBytes);
        window.Acknowledge(3);
        Assert.Equal(0, window.UnackedBytes);
    }

    [Fact]
    public void A_resume_list_adds_only_blocks_not_taken_on_this_connection()
    {
        var pending = new PendingBlocks(new DirtyBitmap(64, 4096));
        pending.Add(2, 6);
        long cursor = 0;
        Assert.True(pending.TryTake(ref cursor, mayWrap: false, 3, out long start, out long count)); // 2..4 in flight
        Assert.Equal((2L, 3L), (start, count));

        pending.AddUnlessTaken([new BlockRun(0, 10), new BlockRun(20, 2)]);
        Assert.Equal([new BlockRun(0, 2), new BlockRun(5, 5), new BlockRun(20, 2)], Runs(pending));

        // A later request (or the next connection's list) takes every block it names.
        pending.Add([new BlockRun(2, 1)]);
        pending.BeginConnection();
        pending.AddUnlessTaken([new BlockRun(3, 1)]);
        Assert.Equal([new BlockRun(2, 2)], Runs(pending));
    }

    [Fact]
    public async Task The_sender_waits_for_room_until_an_ack_frees_it()
    {
        using var window = new InFlightWindow();
        window.Add([new DataRun(0, 1, false)], 100);
        window.Add([new DataRun(1, 1, false)], 100);
        await window.WaitForRoomAsync(200, CancellationToken.None); // at the limit: room

        var waiting = window.WaitForRoomAsync(150, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);
        window.Acknowledge(1);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(100, window.UnackedBytes);
    }

    [Fact]
    public async Task Waiting_for_room_stops_with_its_token()
    {
        using var window = new InFlightWindow();
        window.Add([new DataRun(0, 1, false)], 100);
        using var stop = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await window.WaitForRoomAsync(0, stop.Token));
    }

    [Fact]
    public void A_new_connection_sends_again_what_the_destination_did_not_make_durable()
    {
        using var window = new InFlightWindow();
        var pending = new PendingBlocks(new DirtyBitmap(100, 4096));
        window.Add([new DataRun(0, 2, false), new DataRun(5, 1, true)], 10);
        window.Add([new DataRun(10, 3, false)], 10);
        window.Add([new DataRun(20, 1, false)], 10);

        window.Reopen(durableSeq: 1, pending);

        Assert.Equal([new BlockRun(10, 3), new BlockRun(20, 1)], Runs(pending));
        Assert.Equal((0L, 1L), (window.UnackedBytes, window.LastSeqOnConnection));
        // Sequence numbers run on across connections.
        Assert.Equal(4, window.Add([new DataRun(0, 1, false)], 1));
        Assert.Equal(4, window.LastSeqOnConnection);
    }

    [Fact]
    public void On_failure_unacknowledged_and_pending_blocks_go_back_to_the_tracker()
    {
        var tracker = new DirtyBitmap(100, 4096);
        var pending = new PendingBlocks(tracker);
        using var window = new InFlightWindow();
        window.Add([new DataRun(0, 2, false)], 10);
        window.Add([new DataRun(40, 5, true)], 10);
        window.Acknowledge(1);
        pending.Add(70, 3);
        Assert.Equal(3, pending.Outstanding);

        window.ReturnToTracker(tracker);
        pending.ReturnToTracker();

        var dirty = new List<BlockRun>();
        tracker.TakeDirty(0, 100, dirty);
        Assert.Equal([new BlockRun(40, 5), new BlockRun(70, 3)], dirty);
        Assert.Empty(Runs(pending));
    }

    [Fact]
    public void Pending_blocks_are_taken_in_ascending_order_and_wrap_only_when_allowed()
    {
        var tracker = new DirtyBitmap(100, 4096);
        var pending = new PendingBlocks(tracker);
        tracker.MarkDirty(10, 5);
        tracker.MarkDirty(90, 10);
        Assert.Equal(15, pending.Outstanding);
        Assert.Equal(15, pending.TakeDirty());
        Assert.Equal(0, tracker.DirtyCount);

        long cursor = 50;
        Assert.True(pending.TryTake(ref cursor, mayWrap: false, maxBlocks: 4, out long start, out long count));
        Assert.Equal((90L, 4L, 94L), (start, count, cursor));
        Assert.False(pending.TryTake(ref cursor, mayWrap: true, maxBlocks: 0, out _, out _));
        Assert.True(pending.TryTake(ref cursor, mayWrap: false, maxBlocks: 100, out start, out count));
        Assert.Equal((94L, 6L), (start, count));
        Assert.False(pending.TryTake(ref cursor, mayWrap: false, maxBlocks: 100, out _, out _));
        Assert.True(pending.TryTake(ref cursor, mayWrap: true, maxBlocks: 100, out start, out count));
        Assert.Equal((10L, 5L, 15L), (start, count, cursor));
        Assert.Equal(0, pending.Outstanding);
    }

    [Fact]
    public void Dropping_the_dirty_set_forgets_writes_the_index_scan_covers()
    {
        var tracker = new DirtyBitmap(100, 4096);
        var pending = new PendingBlocks(tracker);
        tracker.MarkDirty(0, 50);
        pending.DropDirty();
        Assert.Equal(0, pending.Outstanding);
        Assert.Equal(0, pending.TakeDirty());
    }
}
