namespace Teleport.Blocks;

// Locality (the locality-preserved caching of Zhu, Li and Patterson, FAST 2008): a destination looks its index up in the
// source volume's block order, and related images keep their content in runs, so the key after one found at block b of
// an image is most often at block b + 1. A predicted block is read and fingerprinted exactly as a located one is
// (Accept): it is a hit only when it holds content of its key, so a wrong prediction costs a read and a hash, never a
// wrong answer, and no table entry is read for a right one.
internal sealed unsafe partial class VerifiedBatch
{
    // Blocks in a prediction's first read; each read whose blocks all matched doubles the next (a run is read in a few
    // large reads, and a prediction that fails at once has read only this many).
    private const int FirstRun = 4;

    /// <summary>
    /// Predicts the keys from <paramref name="start"/> (before <paramref name="end"/>) at the blocks following
    /// <paramref name="anchor"/>, the location of the previous key's content, and stops at the first whose predicted
    /// block does not hold content of it (or cannot be read whole). The keys before it are hits, stored as
    /// <see cref="Verify"/> stores them; <paramref name="anchor"/> moves to the last of them. Returns how many.
    /// </summary>
    public int Predict(int start, int end, ref ulong anchor, ImageRecord?[] images, Func<Fingerprint, IndexKey> keyOf,
        Span<byte> blocks, Span<Fingerprint> fingerprints)
    {
        int id = IndexEntry.ImageIdOf(anchor);
        long next = IndexEntry.BlockOf(anchor) + 1;
        int i = start;
        for (int run = FirstRun; i < end; run *= 2)
        {
            int n = (int)Math.Min(Math.Min(run, end - i), IndexEntry.MaxBlock + 1 - next);
            if (n <= 0)
                break; // the anchor is the last block a location can name
            int whole = ReadRun(images, id, next, i, n);
            int matched = 0;
            while (matched < whole && Accept(i + matched, i + matched, keyOf, blocks, fingerprints))
                matched++;
            i += matched;
            next += matched;
            if (matched < n)
                break;
        }
        if (i > start)
            anchor = IndexEntry.Pack(id, next - 1);
        return i - start;
    }

    // Reads `count` blocks of image `id` from `block` on into the buffer's slots from `slot`, with one read; returns the
    // blocks read whole (fewer at the image's end; none when the image is no longer in the index).
    private int ReadRun(ImageRecord?[] images, int id, long block, int slot, int count)
    {
        if (!TryHold(images, id, out var handle))
            return 0;
        try
        {
            _ops[0] = new ReadOp((int)handle.DangerousGetHandle(), (nint)(_blockBuffer + (long)slot * _blockSize),
                count * _blockSize, block * _blockSize);
            _reads.Read(_ops.AsSpan(0, 1), _results);
            return Math.Max(_results[0], 0) / _blockSize;
        }
        finally
        {
            // The read has completed (BatchReads.Read returns only then): the file may be closed now.
            handle.DangerousRelease();
        }
    }
}
