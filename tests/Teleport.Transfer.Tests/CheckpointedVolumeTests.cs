using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The destination volume's checkpoints, read-back and final digest, on a temp file.</summary>
public sealed class CheckpointedVolumeTests : IDisposable
{
    private const int BlockSize = 4096;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_checkpoint_saves_the_applied_sequence_after_reading_the_written_blocks_back()
    {
        using var volume = Open(2 * BlockSize, out var options);
        byte[] block = RandomNumberGenerator.GetBytes(BlockSize);
        volume.WriteBlock(1, block, Fingerprint.Compute(block));
        volume.LastSeq = 7;

        volume.Checkpoint(force: false); // due at once: the last checkpoint is long ago
        var saved = DestinationState.Load(options.EffectiveStatePath)!;
        Assert.Equal(7, saved.DurableSeq);
        Assert.True(saved.Presence.Test(1));
        Assert.Equal(0, volume.BytesSinceCheckpoint);
    }

    [Fact]
    public void A_block_that_reads_back_differently_fails_the_checkpoint()
    {
        using var volume = OpenWithWrongFingerprint(hashed: false, out _);

        var e = Assert.Throws<TransferException>(() => volume.Checkpoint(force: true));
        Assert.Equal(TransferErrorCode.VerificationFailed, e.Code);
    }

    [Fact]
    public void The_digest_covers_a_partial_last_block_zero_padded_and_a_mismatch_is_refused()
    {
        byte[] content = RandomNumberGenerator.GetBytes(BlockSize + 100);
        using var volume = Open(content.Length, out var options);
        volume.WriteBlock(0, content.AsSpan(0, BlockSize), Fingerprint.Compute(content.AsSpan(0, BlockSize)));
        byte[] last = new byte[BlockSize];
        content.AsSpan(BlockSize).CopyTo(last);
        volume.WriteBlock(1, content.AsSpan(BlockSize), Fingerprint.Compute(last));

        byte[] expected = VolumeDigest.Compute(volume.Geometry, [Fingerprint.Compute(content.AsSpan(0, BlockSize)), Fingerprint.Compute(last)]);
        var e = Assert.Throws<TransferException>(() => volume.Verify(new byte[ProtocolConstants.DigestSize]));
        Assert.Equal(TransferErrorCode.VerificationFailed, e.Code);
        Assert.Equal(expected, volume.Verify(expected));
        Assert.Equal(DestinationPhase.Completed, DestinationState.Load(options.EffectiveStatePath)!.Phase);
    }

    [Fact]
    public void Consecutive_blocks_are_written_in_one_call_before_anything_reads_or_overwrites_them()
    {
        var writes = new List<(long Offset, int Length)>();
        using var volume = Open(6 * BlockSize, out _, (offset, length) => writes.Add((offset, length)));
        byte[][] blocks = Enumerable.Range(0, 4).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        for (int b = 0; b < 3; b++)
            volume.WriteBlock(b, blocks[b], Fingerprint.Compute(blocks[b]));
        Assert.Empty(writes);

        // A read sees them: the run is written first, in one call.
        Assert.Equal(Fingerprint.Compute(blocks[1]), volume.ReadBlock(1, new byte[BlockSize]));
        Assert.Equal([(0L, 3 * BlockSize)], writes);

        // A write over a gathered block comes after it, never under it.
        volume.WriteBlock(4, blocks[3], Fingerprint.Compute(blocks[3]));
        volume.Write(blocks[0], 4L * BlockSize);
        volume.MarkPresent(4, Fingerprint.Compute(blocks[0]));
        Assert.Equal(Fingerprint.Compute(blocks[0]), volume.ReadBlock(4, new byte[BlockSize]));
        volume.Checkpoint(force: true);
        Assert.Equal([(0L, 3 * BlockSize), (4L * BlockSize, BlockSize), (4L * BlockSize, BlockSize)], writes);
    }

    [Fact]
    public void Verify_flushes_only_what_was_written_since_the_last_checkpoint_and_still_reads_it_back()
    {
        int flushes = 0;
        using var volume = Open(3 * BlockSize, out _, afterFlush: () => flushes++);
        byte[][] blocks = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        var prints = blocks.Select(b => Fingerprint.Compute(b)).ToArray();
        for (int b = 0; b < 2; b++)
            volume.WriteBlock(b, blocks[b], prints[b]);
        volume.Checkpoint(force: true);
        Assert.Equal(1, flushes);

        // The round's checkpoint flushed everything: the final Verify has nothing to flush.
        volume.MarkZeroRun(2, 1);
        byte[] digest = VolumeDigest.Compute(volume.Geometry, [prints[0], prints[1], volume.Zero]);
        Assert.Equal(digest, volume.Verify(digest));
        Assert.Equal(1, flushes);

        // Written since: flushed, and read back against what was written there before the digest.
        volume.WriteBlock(2, blocks[2], prints[0]);
        var e = Assert.Throws<TransferException>(() => volume.Verify(digest));
        Assert.Equal(TransferErrorCode.VerificationFailed, e.Code);
        Assert.Equal(2, flushes);
    }

    [Fact]
    public void A_block_hashed_before_it_was_written_is_compared_with_its_copy_and_the_digest_still_catches_a_wrong_fingerprint()
    {
        using var volume = OpenWithWrongFingerprint(hashed: true, out byte[] written);
        volume.MarkZeroRun(1, 1);

        // The caller vouches for the fingerprint: the read-back compares bytes (equal), it does not hash them again...
        volume.Checkpoint(force: true);
        // ...and the source's digest, over the content it has there, differs from the one the wrong fingerprint gives.
        byte[] sourceDigest = VolumeDigest.Compute(volume.Geometry, [Fingerprint.Compute(written), volume.Zero]);
        var e = Assert.Throws<TransferException>(() => volume.Verify(sourceDigest));
        Assert.Equal(TransferErrorCode.VerificationFailed, e.Code);
    }

    [Fact]
    public void A_hashed_block_that_reads_back_differently_from_what_was_written_fails_the_checkpoint()
    {
        string path = _dir.File("dst.img");
        byte[] other = RandomNumberGenerator.GetBytes(BlockSize);
        // A failing disk: what reaches the file is not what was written.
        using var volume = Open(3 * BlockSize, out _, (offset, length) =>
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
            RandomAccess.Write(file, other, offset + BlockSize);
        });
        byte[][] blocks = Enumerable.Range(0, 3).Select(_ => RandomNumberGenerator.GetBytes(BlockSize)).ToArray();
        for (int b = 0; b < 3; b++)
            volume.WriteHashedBlock(b, blocks[b], Fingerprint.Compute(blocks[b]));

        var e = Assert.Throws<TransferException>(() => volume.Checkpoint(force: true));
        Assert.Equal(TransferErrorCode.VerificationFailed, e.Code);
        Assert.Contains("block 1 ", e.Message);
    }

    /// <summary>A volume of two blocks whose block 0 was written with the fingerprint of other bytes.</summary>
    private CheckpointedVolume OpenWithWrongFingerprint(bool hashed, out byte[] written)
    {
        var volume = Open(2 * BlockSize, out _);
        written = RandomNumberGenerator.GetBytes(BlockSize);
        var claimed = Fingerprint.Compute(RandomNumberGenerator.GetBytes(BlockSize));
        if (hashed)
            volume.WriteHashedBlock(0, written, claimed);
        else
            volume.WriteBlock(0, written, claimed);
        return volume;
    }

    private CheckpointedVolume Open(long size, out DestinationOptions options, Action<long, int>? afterWrite = null, Action? afterFlush = null)
    {
        var geometry = new VolumeGeometry(size, BlockSize);
        options = new DestinationOptions
        {
            MigrationId = Guid.NewGuid(),
            Secret = new byte[32],
            VolumePath = _dir.File("dst.img"),
            AfterBlockWrite = afterWrite,
            AfterFlush = afterFlush,
        };
        var state = new DestinationState(options.MigrationId, Guid.NewGuid(), geometry, fresh: true);
        return new CheckpointedVolume(VolumeFile.OpenDestination(options.VolumePath, size), state, options, lastSeq: 0, lastCheckpointTicks: 0);
    }
}
