using System.Diagnostics;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Dedup resolution of the index stream on small temp-file volumes, without sockets: what comes from the local index,
/// from the volume itself, from zero runs, and what is requested.
/// </summary>
public sealed class IndexResolverTests : IDisposable
{
    private const int BlockSize = 4096;
    private readonly TempDir _dir = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned)
            owned.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public void Index_hits_are_copied_zero_runs_marked_and_the_rest_requested_before_the_batch_is_applied()
    {
        byte[][] known = RandomBlocks(2);
        byte[][] missing = RandomBlocks(2);
        var index = IndexOver(known);
        var t = Open(blocks: 6, index: index);
        var batch = new Batch(0).Block(known[0]).Zeros(2).Block(missing[0]).Block(known[1]).Block(missing[1]);

        t.Resolver.Validate(batch.Bytes);
        t.Resolver.QueueCertainMisses(batch.Bytes);
        // The misses are known before anything is read from the index.
        Assert.Equal([new BlockRun(3, 1), new BlockRun(5, 1)], t.Queued());
        t.Resolver.Apply(batch.Bytes);

        Assert.Empty(t.Queued());
        Assert.Equal(6, t.Volume.State.IndexCursor);
        Assert.Equal(2, t.Stats.FromIndex);
        Assert.Equal(2, t.Stats.ZeroBlocks);
        Assert.Equal(0, t.Stats.FromVolume);
        Assert.Equal(4, t.Volume.Presence.Count);
        Assert.Equal(Fingerprint.Compute(known[1]), t.Volume.ReadBlock(4, new byte[BlockSize]));
        Assert.True(t.Requests.IsRequested(3));
        Assert.False(t.Requests.IsRequested(4));
    }

    [Fact]
    public void Misses_of_a_batch_queued_behind_are_requested_ahead_each_content_once_and_not_again_in_its_turn()
    {
        byte[][] known = RandomBlocks(1);
        byte[][] missing = RandomBlocks(3);
        var t = Open(blocks: 6, index: IndexOver(known));
        // The second batch repeats the first one's misses (they wait for them) and adds one of its own.
        var first = new Batch(0).Block(known[0]).Block(missing[0]).Block(missing[1]);
        var second = new Batch(3).Block(missing[0]).Block(missing[2]).Block(missing[1]);

        t.Resolver.Validate(first.Bytes);
        t.Resolver.QueueCertainMisses(first.Bytes);
        Assert.True(t.Resolver.QueueCertainMissesAhead(second.Bytes));
        Assert.Equal([new BlockRun(1, 2), new BlockRun(4, 1)], t.Queued());
        // A batch that does not continue the examined stream, or a malformed one, is left for its own turn.
        Assert.False(t.Resolver.QueueCertainMissesAhead(new Batch(7).Block(RandomBlocks(1)[0]).Bytes));
        Assert.False(t.Resolver.QueueCertainMissesAhead([1, 2, 3]));
        Assert.Equal(0, t.Volume.Presence.Count);

        t.Resolver.Apply(first.Bytes);
        Apply(t, second);
        Assert.Empty(t.Queued());
        Assert.Equal(1, t.Stats.FromIndex);
        Assert.Equal(2, t.Stats.FromVolume);
        Assert.Equal(6, t.Volume.State.IndexCursor);
        Receive(t, 1, missing[0]);
        Assert.True(t.Volume.Presence.Test(3));
    }

    [Fact]
    public void A_new_connection_in_the_index_phase_asks_again_for_what_was_requested_past_the_cursor_unless_it_arrived()
    {
        byte[][] missing = RandomBlocks(4);
        var t = Open(blocks: 4);
        var first = new Batch(0).Block(missing[0]).Block(missing[1]);
        var second = new Batch(2).Block(missing[2]).Block(missing[3]);
        t.Resolver.Validate(first.Bytes);
        t.Resolver.QueueCertainMisses(first.Bytes);
        Assert.True(t.Resolver.QueueCertainMissesAhead(second.Bytes));
        t.Resolver.Apply(first.Bytes);
        Assert.Equal([new BlockRun(0, 4)], t.Queued());
        Receive(t, 3, missing[3]); // arrived before the connection was lost; block 2 did not

        // The source drops what it held past the cursor (2) when the next connection resumes there.
        t.Resolver.StartConnection();
        Assert.True(t.Requests.IsRequested(1));
        Assert.False(t.Requests.IsRequested(2));
        Apply(t, second);
        Assert.Equal([new BlockRun(2, 1)], t.Queued());
        Assert.Equal(4, t.Volume.State.IndexCursor);
    }

    [Fact]
    public void A_repeat_waits_for_its_block_then_is_filled_when_it_arrives_and_later_copies_come_from_the_volume()
    {
        byte[] a = RandomBlocks(1)[0];
        var t = Open(blocks: 4);
        var first = new Batch(0).Block(a).Repeat(1);
        Apply(t, first);

        Assert.Equal([new BlockRun(0, 1)], t.Queued());
        Assert.Equal(1, t.Stats.FromVolume);
        Assert.False(t.Volume.Presence.Test(1));

        Receive(t, 0, a);
        Assert.True(t.Volume.Presence.Test(1));
        Assert.Equal(Fingerprint.Compute(a), t.Volume.ReadBlock(1, new byte[BlockSize]));

        // Block 0 is present now: the same content further on is copied from it at once.
        Apply(t, new Batch(2).Block(a).Zeros(1));
        Assert.True(t.Volume.Presence.Test(2));
        Assert.Equal(2, t.Stats.FromVolume);
        Assert.Empty(t.Queued());
        Assert.Equal(Fingerprint.Compute(a), t.Volume.ReadBlock(2, new byte[BlockSize]));
    }

    [Fact]
    public void A_waiter_is_requested_when_its_block_arrives_with_other_content()
    {
        byte[][] blocks = RandomBlocks(2);
        var t = Open(blocks: 2);
        Apply(t, new Batch(0).Block(blocks[0]).Block(blocks[0]));
        Assert.Equal([new BlockRun(0, 1)], t.Queued());

        // The source block changed since the index phase: the copy waiting for it must come from the source.
        Receive(t, 0, blocks[1]);
        Assert.False(t.Volume.Presence.Test(1));
        Assert.Equal([new BlockRun(1, 1)], t.Queued());
    }

    [Fact]
    public void A_hint_block_that_fails_verification_is_requested_and_one_that_matches_is_kept()
    {
        byte[][] blocks = RandomBlocks(3);
        // An earlier attempt left block 1 right and block 0 stale.
        File.WriteAllBytes(_dir.File("dst.img"), [.. blocks[2], .. blocks[1]]);
        var hint = new BlockBitmap(2);
        hint.SetRange(0, 2);
        var t = Open(blocks: 2, hint: hint, fresh: false);

        Apply(t, new Batch(0).Block(blocks[0]).Block(blocks[1]));

        Assert.Equal([new BlockRun(0, 1)], t.Queued());
        Assert.True(t.Volume.Presence.Test(1));
        Assert.False(t.Volume.Presence.Test(0));
        Assert.Equal(1, t.Stats.FromVolume);
    }

    [Fact]
    public void An_index_candidate_that_fails_verification_is_requested()
    {
        byte[][] known = RandomBlocks(2);
        var index = IndexOver(known);
        // The indexed image changed after indexing: its entry for block 0 is stale.
        using (var image = File.OpenWrite(_dir.File("base.img")))
            image.Write(RandomBlocks(1)[0]);
        var t = Open(blocks: 2, index: index);

        var batch = new Batch(0).Block(known[0]).Block(known[1]);
        t.Resolver.Validate(batch.Bytes);
        t.Resolver.QueueCertainMisses(batch.Bytes);
        Assert.Empty(t.Queued()); // the index may have it: no early request
        t.Resolver.Apply(batch.Bytes);

        Assert.Equal([new BlockRun(0, 1)], t.Queued());
        Assert.Equal(1, t.Stats.FromIndex);
        Assert.False(t.Volume.Presence.Test(0));
    }

    [Fact]
    public void Index_hits_over_several_prefetch_windows_are_copied_in_order_and_a_stale_one_is_requested()
    {
        // 1200 blocks: the lookups run in windows of 512, each read while the one before is written.
        byte[][] known = RandomBlocks(1200);
        var index = IndexOver(known);
        using (var image = File.OpenWrite(_dir.File("base.img")))
        {
            image.Position = 700L * BlockSize;
            image.Write(RandomBlocks(1)[0]);
        }

        var t = Open(blocks: known.Length, index: index);
        var batch = new Batch(0);
        foreach (byte[] block in known)
            batch.Block(block);
        Apply(t, batch);

        Assert.Equal([new BlockRun(700, 1)], t.Queued());
        Assert.Equal(known.Length - 1, t.Stats.FromIndex);
        byte[] buffer = new byte[BlockSize];
        for (int b = 0; b < known.Length; b++)
        {
            if (b != 700)
                Assert.Equal(Fingerprint.Compute(known[b]), t.Volume.ReadBlock(b, buffer));
        }
    }

    [Fact]
    public void Zero_runs_on_a_used_volume_are_made_zero_and_chunks_already_zero_are_not_rewritten()
    {
        byte[][] blocks = RandomBlocks(1);
        File.WriteAllBytes(_dir.File("dst.img"), [.. blocks[0], .. new byte[2 * BlockSize]]);
        var t = Open(blocks: 3, fresh: false);

        Apply(t, new Batch(0).Zeros(1));
        Assert.Equal(t.Volume.Zero, t.Volume.ReadBlock(0, new byte[BlockSize]));
        Assert.Equal(BlockSize, t.Volume.BytesSinceCheckpoint);

        Apply(t, new Batch(1).Zeros(2));
        Assert.Equal(BlockSize, t.Volume.BytesSinceCheckpoint);
        Assert.Equal(3, t.Volume.Presence.Count);
        Assert.Equal(3, t.Stats.ZeroBlocks);
    }

    [Fact]
    public void A_repeat_of_a_fingerprint_not_listed_on_this_connection_is_refused_before_anything_is_applied()
    {
        byte[][] blocks = RandomBlocks(1);
        var t = Open(blocks: 3);
        Apply(t, new Batch(0).Block(blocks[0]));
        t.Resolver.StartConnection();

        var batch = new Batch(1).Zeros(1).Repeat(1);
        var e = Assert.Throws<TransferException>(() => t.Resolver.Validate(batch.Bytes));
        Assert.Equal(TransferErrorCode.OutOfRange, e.Code);
        Assert.Equal(1, t.Volume.State.IndexCursor);
    }

    private static void Apply(Rebuild t, Batch batch)
    {
        t.Resolver.Validate(batch.Bytes);
        t.Resolver.QueueCertainMisses(batch.Bytes);
        t.Resolver.Apply(batch.Bytes);
    }

    /// <summary>Data for <paramref name="block"/> arrives: written, then handed to the resolver.</summary>
    private static void Receive(Rebuild t, long block, byte[] data)
    {
        t.Volume.Write(data, block * BlockSize);
        t.Resolver.Received(block, Fingerprint.Compute(data), data);
    }

    private static byte[][] RandomBlocks(int count) =>
        Enumerable.Range(0, count).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();

    private BlockIndex IndexOver(byte[][] blocks)
    {
        File.WriteAllBytes(_dir.File("base.img"), blocks.SelectMany(b => b).ToArray());
        var index = BlockIndex.Open(_dir.File("index"), BlockSize);
        _owned.Add(index);
        index.Update([_dir.File("base.img")]);
        return index;
    }

    private Rebuild Open(long blocks, BlockIndex? index = null, BlockBitmap? hint = null, bool fresh = true)
    {
        var geometry = new VolumeGeometry(blocks * BlockSize, BlockSize);
        var options = new DestinationOptions { MigrationId = Guid.NewGuid(), Secret = new byte[32], VolumePath = _dir.File("dst.img"), Index = index };
        var state = new DestinationState(options.MigrationId, Guid.NewGuid(), geometry, fresh);
        var volume = new CheckpointedVolume(VolumeFile.OpenDestination(options.VolumePath, geometry.Size), state, options, 0, Stopwatch.GetTimestamp());
        _owned.Add(volume);
        var stats = new DestinationStatistics();
        var waiting = new BlockBitmap(geometry.BlockCount);
        var requests = new RequestPlanner(volume.Presence, waiting, stats);
        return new Rebuild(volume, requests, new IndexResolver(volume, requests, waiting, stats, index, hint), stats);
    }

    private sealed record Rebuild(CheckpointedVolume Volume, RequestPlanner Requests, IndexResolver Resolver, DestinationStatistics Stats)
    {
        public List<BlockRun> Queued()
        {
            var runs = new List<BlockRun>();
            Requests.TakeQueued(runs);
            return runs;
        }
    }

    /// <summary>An IndexBatch payload built entry by entry.</summary>
    private sealed class Batch
    {
        private readonly List<byte> _bytes = [];

        public Batch(long first) => _bytes.AddRange(BitConverter.GetBytes((ulong)first));

        public byte[] Bytes => [.. _bytes];

        public Batch Block(byte[] data)
        {
            _bytes.Add(ProtocolConstants.EntryFingerprint);
            byte[] fingerprint = new byte[FingerprintPrefix.Size];
            FingerprintPrefix.Of(Fingerprint.Compute(data)).WriteTo(fingerprint);
            _bytes.AddRange(fingerprint);
            return this;
        }

        public Batch Zeros(long count) => Counted(ProtocolConstants.EntryZeroRun, count);

        public Batch Repeat(long back) => Counted(ProtocolConstants.EntryRepeat, back);

        private Batch Counted(byte tag, long value)
        {
            _bytes.Add(tag);
            byte[] varint = new byte[Varint.MaxLength];
            _bytes.AddRange(varint.AsSpan(0, Varint.Write(varint, (ulong)value)).ToArray());
            return this;
        }
    }
}
