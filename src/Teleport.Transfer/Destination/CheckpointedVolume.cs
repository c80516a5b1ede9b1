using System.Diagnostics;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The volume being rebuilt, with its durable progress: writes blocks and records what each one should hold, flushes
/// and saves the state file at checkpoints (in that order: the file never claims unflushed data), reads written blocks
/// back to check them, and computes the final digest over what the volume holds on disk.
/// </summary>
internal sealed class CheckpointedVolume : IDisposable
{
    private readonly VolumeFile _file;
    private readonly DestinationOptions _options;
    private readonly Fingerprint[] _fingerprints;
    private readonly BlockBitmap _fingerprintKnown;

    // Blocks written since the last checkpoint: read back after the flush, so the final digest is over what the
    // volume holds on disk, not over what this session believes it wrote.
    private readonly BlockBitmap _readBack;

    // Blocks of _readBack whose bytes were hashed here before being written (WriteHashedBlock): with a copy of what was
    // written they are compared at the read-back instead of being hashed again.
    private readonly BlockBitmap _hashed;
    private readonly WrittenCopies _copies;
    private const long MaxCopyBytes = 64 << 20;
    private readonly byte[] _chunk = new byte[ProtocolConstants.MaxBatchBytes];
    private readonly byte[] _block;
    private long _lastCheckpointTicks;

    // Blocks copied here one by one (index hits, in ascending order) are gathered and written with one call per run.
    private readonly byte[] _gathered = new byte[ProtocolConstants.MaxBatchBytes];
    private long _gatheredOffset;
    private int _gatheredLength;

    // Bytes written since the kernel was last asked to start writing them out.
    private const long WritebackBytes = 8 << 20;
    private long _writtenSinceWriteback;
    private Task _writeback = Task.CompletedTask;

    // Nothing written through this handle since the last flush: the final Verify right after a round's checkpoint
    // skips its flush (an fsync of an unchanged file still commits the journal: ~10 ms on the cut-over's clock).
    private bool _flushed;

    /// <summary>
    /// <paramref name="lastSeq"/> is the highest Data sequence number already applied (durable when resuming);
    /// <paramref name="lastCheckpointTicks"/> when the last checkpoint was taken (0: one is due at once).
    /// </summary>
    public CheckpointedVolume(VolumeFile file, DestinationState state, DestinationOptions options, long lastSeq, long lastCheckpointTicks)
    {
        _file = file;
        _options = options;
        State = state;
        LastSeq = lastSeq;
        _lastCheckpointTicks = lastCheckpointTicks;
        Zero = ZeroFingerprints.For(Geometry.BlockSize);
        _block = new byte[Geometry.BlockSize];
        _fingerprints = new Fingerprint[Geometry.BlockCount];
        _fingerprintKnown = new BlockBitmap(Geometry.BlockCount);
        _readBack = new BlockBitmap(Geometry.BlockCount);
        _hashed = new BlockBitmap(Geometry.BlockCount);
        _copies = new WrittenCopies(Math.Min(options.CheckpointBytes, MaxCopyBytes));
    }

    public DestinationState State { get; }

    public VolumeGeometry Geometry => State.Geometry;

    /// <summary>Blocks the volume holds as the source sent them.</summary>
    public BlockBitmap Presence => State.Presence;

    /// <summary>Fingerprint of an all-zero block.</summary>
    public Fingerprint Zero { get; }

    /// <summary>The highest Data sequence number applied (recorded as durable at the next checkpoint).</summary>
    public long LastSeq { get; set; }

    /// <summary>Block bytes written since the last checkpoint.</summary>
    public long BytesSinceCheckpoint { get; private set; }

    public bool CheckpointDue =>
        BytesSinceCheckpoint >= _options.CheckpointBytes ||
        Stopwatch.GetElapsedTime(_lastCheckpointTicks) >= _options.CheckpointInterval;

    /// <summary>
    /// Writes block bytes at <paramref name="offset"/> (not yet counted towards the checkpoint). Once a fence is armed,
    /// blocks the guest wrote are skipped: the source's late copy never overwrites the guest's data.
    /// </summary>
    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        WriteGathered();
        if (_options.Fence is not { Armed: true } fence)
        {
            WriteFile(data, offset);
            return;
        }

        for (long at = 0; fence.NextArrival(Geometry, offset, data.Length, ref at, out long start, out long length);)
        {
            WriteFile(data.Slice((int)start, (int)length), offset + start);
            fence.EndArrival((offset + start) / Geometry.BlockSize, FenceArrivals.BlocksIn(Geometry, length));
        }
    }

    /// <summary>Zeroes block-aligned bytes, skipping the guest's blocks once a fence is armed (as <see cref="Write"/>).</summary>
    public void WriteZeros(long offset, long length)
    {
        WriteGathered();
        if (_options.Fence is not { Armed: true } fence)
        {
            ZeroFile(offset, length);
            return;
        }

        for (long at = 0; fence.NextArrival(Geometry, offset, length, ref at, out long start, out long run);)
        {
            ZeroFile(offset + start, run);
            fence.EndArrival((offset + start) / Geometry.BlockSize, FenceArrivals.BlocksIn(Geometry, run));
        }
    }

    /// <summary>Counts written block bytes towards the next checkpoint.</summary>
    public void Written(long bytes) => BytesSinceCheckpoint += bytes;

    /// <summary>Writes one block and records it as present with <paramref name="fingerprint"/>.</summary>
    public void WriteBlock(long block, ReadOnlySpan<byte> data, in Fingerprint fingerprint)
    {
        if (_options.Fence is { Armed: true })
            Write(data, Geometry.Offset(block));
        else
            Gather(data, Geometry.Offset(block));
        BytesSinceCheckpoint += data.Length;
        MarkPresent(block, fingerprint);
    }

    /// <summary>
    /// As <see cref="WriteBlock"/>, for bytes this side has just hashed to <paramref name="fingerprint"/> (an index hit, a
    /// copy of a block read back): the read-back compares them with a copy instead of hashing them again.
    /// </summary>
    public void WriteHashedBlock(long block, ReadOnlySpan<byte> data, in Fingerprint fingerprint)
    {
        WriteBlock(block, data, fingerprint);
        if (_readBack.Test(block))
            _hashed.Set(block);
    }

    /// <summary>Adds a block's bytes to the gathered run, writing the run out first if this one does not continue it.</summary>
    private void Gather(ReadOnlySpan<byte> data, long offset)
    {
        if (_gatheredLength > 0 && (offset != _gatheredOffset + _gatheredLength || _gatheredLength + data.Length > _gathered.Length))
            WriteGathered();
        if (_gatheredLength == 0)
            _gatheredOffset = offset;
        data.CopyTo(_gathered.AsSpan(_gatheredLength));
        _gatheredLength += data.Length;
    }

    /// <summary>Writes the gathered blocks: before any other write, read or flush of the volume, so none sees it stale.</summary>
    private void WriteGathered()
    {
        if (_gatheredLength == 0)
            return;
        int length = _gatheredLength;
        _gatheredLength = 0;
        _copies.Keep(_gathered.AsSpan(0, length), _gatheredOffset);
        WriteFile(_gathered.AsSpan(0, length), _gatheredOffset);
    }

    /// <summary>
    /// Records that <paramref name="block"/> now holds <paramref name="fingerprint"/>'s content (read back at the next
    /// checkpoint). A guest block keeps the guest's data; the fingerprint is the source's, for the final digest.
    /// </summary>
    public void MarkPresent(long block, in Fingerprint fingerprint)
    {
        Presence.Set(block);
        _fingerprints[block] = fingerprint;
        _hashed.Clear(block);
        if (IsGuestBlock(block))
        {
            _fingerprintKnown.Set(block);
            return;
        }

        _fingerprintKnown.Clear(block);
        _readBack.Set(block);
    }

    /// <summary>Makes a run of blocks zero (on a fresh volume they are already) and records them as present.</summary>
    public void MarkZeroRun(long start, long count)
    {
        if (!State.Fresh)
            ZeroFill(start, count);
        Presence.SetRange(start, count);
        _fingerprints.AsSpan((int)start, (int)count).Fill(Zero);
        _fingerprintKnown.SetRange(start, count);
    }

    /// <summary>Reads one block into <paramref name="buffer"/> (block-sized) zero-padded; returns its fingerprint.</summary>
    public Fingerprint ReadBlock(long block, Span<byte> buffer)
    {
        var data = buffer[..Geometry.BlockLength(block)];
        WriteGathered();
        _file.Read(data, Geometry.Offset(block));
        return Fingerprint.ComputePadded(data, buffer);
    }

    /// <summary>Checkpoints when due (or with <paramref name="force"/>): flush, read back, then the state file.</summary>
    public void Checkpoint(bool force)
    {
        if (!force && !CheckpointDue)
            return;
        WriteGathered();
        Flush();
        ReadBackWritten();
        State.DurableSeq = LastSeq;
        State.Save(_options.EffectiveStatePath);
        BytesSinceCheckpoint = 0;
        _lastCheckpointTicks = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Flushes, computes the volume digest and compares it with the source's: a match marks the state completed; a
    /// mismatch is a <see cref="TransferErrorCode.VerificationFailed"/>. One flush and one state write: the state
    /// claims completion only after the volume is on stable storage.
    /// </summary>
    public byte[] Verify(byte[] sourceDigest)
    {
        WriteGathered();
        // A fenced volume is also written by the guest through another handle: always flushed.
        if (!_flushed || _options.Fence is not null)
            Flush();
        byte[] digest = ComputeDigest();
        State.DurableSeq = LastSeq;
        if (!CryptographicOperations.FixedTimeEquals(digest, sourceDigest))
        {
            State.Save(_options.EffectiveStatePath);
            throw new TransferException(TransferErrorCode.VerificationFailed,
                $"destination volume digest {Convert.ToHexStringLower(digest)} differs from the source's {Convert.ToHexStringLower(sourceDigest)}");
        }

        State.Phase = DestinationPhase.Completed;
        State.Digest = digest;
        State.Save(_options.EffectiveStatePath);
        return digest;
    }

    private void ZeroFile(long offset, long length)
    {
        _flushed = false;
        _file.WriteZeros(offset, length);
    }

    private void Flush()
    {
        _file.Flush();
        _flushed = true;
        _options.AfterFlush?.Invoke();
    }

    // Makes blocks zero on a volume that may hold old data: reads first, writes only what is not zero already.
    private void ZeroFill(long start, long count)
    {
        for (long b = start; b < start + count; b += BlocksPerChunk)
        {
            long n = Math.Min(BlocksPerChunk, start + count - b);
            var chunk = ReadChunk(b, n);
            if (!ZeroBlocks.IsZero(chunk))
            {
                ZeroFile(Geometry.Offset(b), chunk.Length);
                BytesSinceCheckpoint += chunk.Length;
            }
        }
    }

    /// <summary>
    /// Reads back the blocks written since the last call and checks each against the fingerprint it was written
    /// for: a block that differs is a bug or a failing disk, and the migration must not go on as if it were there.
    /// </summary>
    private void ReadBackWritten()
    {
        _copies.Seal();
        for (long b = _readBack.NextSet(0); b >= 0 && b < Geometry.BlockCount; b = _readBack.NextSet(b))
        {
            long end = _readBack.NextClear(b);
            if (end < 0 || end > Geometry.BlockCount)
                end = Geometry.BlockCount;
            for (long at = b; at < end; at += BlocksPerChunk)
            {
                long n = Math.Min(BlocksPerChunk, end - at);
                ReadChunk(at, n);
                if (MismatchInChunk(at, n) is { } block)
                    throw new TransferException(TransferErrorCode.VerificationFailed,
                        $"block {block} read back from the destination volume differs from what was written there");
                _fingerprintKnown.SetRange(at, n);
            }

            _readBack.ClearRange(b, end - b);
            _hashed.ClearRange(b, end - b);
            b = end;
        }

        _copies.Clear();
    }

    /// <summary>A block of the chunk just read that differs from what was written there, or null; hashed on two threads.</summary>
    private long? MismatchInChunk(long first, long count)
    {
        long mismatch = -1;
        Parallel.For(0, (int)count, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            long block = first + i;
            // Asked after the read: a block the guest took before it may hold the guest's data, so it is not compared;
            // one it takes later was read as written.
            if (IsGuestBlock(block))
                return;
            var data = _chunk.AsSpan(i * Geometry.BlockSize, Geometry.BlockLength(block));
            if (_hashed.Test(block) && _copies.TryGet(Geometry.Offset(block), data.Length, out var written))
            {
                // Hashed before it was written: the same bytes hold the same content.
                if (!data.SequenceEqual(written))
                    Interlocked.Exchange(ref mismatch, block);
                return;
            }

            var read = data.Length == Geometry.BlockSize ? Fingerprint.Compute(data) : Fingerprint.ComputePadded(data, new byte[Geometry.BlockSize]);
            if (read != _fingerprints[block])
                Interlocked.Exchange(ref mismatch, block);
        });
        return mismatch >= 0 ? mismatch : null;
    }

    /// <summary>Fingerprints of every block (re-read where unknown, or all with VerifyByReading), hashed in order.</summary>
    private byte[] ComputeDigest()
    {
        ReadBackWritten();
        if (!_options.VerifyByReading && _fingerprintKnown.Count == Geometry.BlockCount)
            return VolumeDigest.Compute(Geometry, _fingerprints);

        for (long b = 0; b < Geometry.BlockCount; b += BlocksPerChunk)
        {
            long n = Math.Min(BlocksPerChunk, Geometry.BlockCount - b);
            bool needed = _options.VerifyByReading;
            for (long i = b; !needed && i < b + n; i++)
                needed = !_fingerprintKnown.Test(i);
            if (!needed)
                continue;
            var chunk = ReadChunk(b, n);
            for (long block = b; block < b + n; block++)
            {
                if (!IsGuestBlock(block))
                    _fingerprints[block] = FingerprintIn(chunk, b, block);
                else if (!_fingerprintKnown.Test(block))
                    throw new TransferException(TransferErrorCode.VerificationFailed,
                        $"block {block} was written by the guest before this destination knew the source's content there (restarted during the tail?)");
                _fingerprintKnown.Set(block);
            }
        }

        return VolumeDigest.Compute(Geometry, _fingerprints);
    }

    private bool IsGuestBlock(long block) => _options.Fence is { Armed: true } fence && fence.IsGuestBlock(block);


    private void WriteFile(ReadOnlySpan<byte> data, long offset)
    {
        _flushed = false;
        _file.Write(data, offset);
        _options.AfterBlockWrite?.Invoke(offset, data.Length);
        // The disk starts on what was written while this side goes on: a checkpoint's flush then waits only for the
        // rest, instead of for everything since the last one while the link is not read. Asked on a pool thread: the
        // request itself waits while the disk's queue is full.
        _writtenSinceWriteback += data.Length;
        if (_writtenSinceWriteback >= WritebackBytes && _writeback.IsCompleted)
        {
            _writeback = Task.Run(_file.StartWriteback);
            _writtenSinceWriteback = 0;
        }
    }

    private int BlocksPerChunk => _chunk.Length / Geometry.BlockSize;

    /// <summary>Reads blocks [start, start + count) into the chunk buffer.</summary>
    private Span<byte> ReadChunk(long start, long count)
    {
        var chunk = _chunk.AsSpan(0, (int)Geometry.RunBytes(start, count));
        WriteGathered();
        _file.Read(chunk, Geometry.Offset(start));
        return chunk;
    }

    /// <summary>The fingerprint of <paramref name="block"/> inside a chunk read from block <paramref name="first"/>.</summary>
    private Fingerprint FingerprintIn(ReadOnlySpan<byte> chunk, long first, long block) =>
        Fingerprint.ComputePadded(chunk.Slice((int)((block - first) * Geometry.BlockSize), Geometry.BlockLength(block)), _block);

    public void Dispose()
    {
        _writeback.Wait(); // a hint only (it never throws), but on this handle
        _file.Dispose();
        _copies.Dispose();
    }
}
