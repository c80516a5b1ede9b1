using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using static Teleport.Transfer.Tests.Fencing.FencedTail;

namespace Teleport.Transfer.Tests.Fencing;

/// <summary>
/// Fenced early resume on real parts: both data-channel sessions over TCP, the destination's volume served by our NBD
/// server to our NBD client while the final round still streams (paced, so what arrives when is decided by the frames'
/// order, not by timing).
/// </summary>
public sealed class FencedTailTests
{
    [Fact]
    public async Task ReadsDuringTheTail_GetTheSourcesData_TheWaitingBlockOvertakingTheStream()
    {
        await using var tail = new FencedTail();
        await tail.StartAsync();
        var client = tail.Client!;

        // Block 1500 is in the last frame of the stream; asked for at once, it comes ahead of it.
        byte[] late = new byte[BlockSize];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await client.ReadAsync(1500L * BlockSize, late);
        string diag = $"read took {clock.ElapsedMilliseconds} ms, {tail.Fence.FencedCount} blocks still fenced after it";
        Assert.Equal(tail.ExpectedBlock(1500), late);
        byte[] untouched = new byte[BlockSize];
        await client.ReadAsync(1900L * BlockSize, untouched);
        Assert.Equal(new byte[BlockSize], untouched);

        await tail.CompleteAsync();
        // In stream order 1280..1535 is the last frame, one write; asked for, 1500 comes in a frame of its own before it.
        Assert.True(tail.WriteOrderOf(1500) < tail.WriteOrderOf(1280),
            $"block 1500 was written at {tail.WriteOrderOf(1500)}, block 1280 at {tail.WriteOrderOf(1280)}: it waited for the stream ({diag})");
        Assert.Equal(tail.Expected, File.ReadAllBytes(tail.Migration.DestinationPath));
        Assert.Equal(0, tail.Fence.FencedCount);
    }

    [Fact]
    public async Task CutOverMidRound_FencesEveryBlockTheRoundHadNotSent_AndReadsGetTheDataAtThePause()
    {
        await using var tail = new FencedTail();
        long[] rewritten = await tail.StartMidRoundAsync(rewrite: 8);
        var (fenced, before) = tail.AtArming;

        // The fence holds exactly what the destination lacked at the pause: the blocks the round had not delivered (frames
        // already on the link were applied before the list was read) and those written again after being sent.
        var delivered = tail.TailWrites(before).SelectMany(w => Enumerable.Range(0, w.Length / BlockSize).Select(i => (w.Offset / BlockSize) + i)).ToHashSet();
        var expected = Enumerable.Range(0, TailBlocks).Select(b => (long)b).Where(b => !delivered.Contains(b)).Union(rewritten).Order().ToList();
        Assert.Equal(expected, fenced.Order().ToList());
        Assert.True(fenced.Count > rewritten.Length,
            $"the round in progress was finished before the final round: {fenced.Count} blocks fenced, {delivered.Count} delivered");

        // Every block read through the served volume during the tail is the source's at the pause.
        var client = tail.Client!;
        byte[] read = new byte[256 * BlockSize];
        for (int at = 0; at < FencedTail.Blocks; at += 256)
        {
            await client.ReadAsync((long)at * BlockSize, read);
            Assert.True(tail.Expected.AsSpan(at * BlockSize, read.Length).SequenceEqual(read), $"stale data in blocks {at}..{at + 255}");
        }

        var result = await tail.CompleteAsync();
        Assert.True(result.Verified);
        Assert.Equal(tail.Expected, File.ReadAllBytes(tail.Migration.DestinationPath));
    }

    [Fact]
    public async Task GuestWritesDuringTheTail_WinOverTheLateCopies_AndTheMigrationStillVerifies()
    {
        await using var tail = new FencedTail();
        await tail.StartAsync();
        var client = tail.Client!;
        byte[] whole = Enumerable.Repeat((byte)0x6B, BlockSize).ToArray();
        byte[] part = Enumerable.Repeat((byte)0x2C, 100).ToArray();

        await client.WriteAsync(1400L * BlockSize, whole); // fenced: its late copy must be dropped
        await client.WriteAsync(1300L * BlockSize + 1000, part); // fenced: waits for the source's block, then merges
        await client.WriteAsync(1900L * BlockSize, whole); // never fenced
        byte[] back = new byte[2 * BlockSize];
        await client.ReadAsync(1400L * BlockSize, back);

        whole.CopyTo(tail.Expected, 1400L * BlockSize);
        part.CopyTo(tail.Expected, 1300L * BlockSize + 1000);
        Assert.Equal(tail.Expected.AsSpan(1400 * BlockSize, 2 * BlockSize).ToArray(), back);
        var result = await tail.CompleteAsync();
        whole.CopyTo(tail.Expected, 1900L * BlockSize);
        Assert.True(result.Verified);
        Assert.Equal(tail.Expected, File.ReadAllBytes(tail.Migration.DestinationPath));
        Assert.Equal(-1, tail.WriteOrderOf(1400));
    }

    [Fact]
    public async Task LinkCutDuringTheTail_FencedReadFailsWithEioAtItsDeadline_ThenCompletesOnceTheChannelResumes()
    {
        await using var tail = new FencedTail(waitTimeout: TimeSpan.FromSeconds(2));
        await tail.StartAsync(throughProxy: true);
        var client = tail.Client!;
        tail.Proxy!.Cut();

        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(1500L * BlockSize, new byte[BlockSize]).AsTask());
        Assert.Equal(NbdError.IoError, error.Error);
        Assert.Equal(1, tail.Fence.TimedOutWaits);

        // Asked while the link is still down: it waits, and the reconnected channel delivers.
        byte[] data = new byte[BlockSize];
        var waiting = client.ReadAsync(1500L * BlockSize, data).AsTask();
        tail.Proxy.Restore();
        await waiting;
        Assert.Equal(tail.ExpectedBlock(1500), data);
        await tail.CompleteAsync();
        Assert.Equal(tail.Expected, File.ReadAllBytes(tail.Migration.DestinationPath));
    }

    [Fact]
    public async Task AnnouncedFence_WithoutAFenceAtTheDestination_IsIgnored()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("rzta", 64), seed: 3));
        var (source, destination) = await m.RunAsync(m.Destination(), ep => m.Source(ep, o => o with { FencedCutover = true }));
        Assert.True(source.Verified && destination.Verified);
        m.AssertEqualVolumes();
    }
}
