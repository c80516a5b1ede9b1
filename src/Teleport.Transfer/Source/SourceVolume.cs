using Teleport.Blocks;

namespace Teleport.Transfer.Source;

/// <summary>
/// The volume being migrated and the fingerprint of every block as last read: the index scan and the Data frames
/// record into it, and the final digest is computed from it. Each block is recorded by one reader at a time.
/// </summary>
internal sealed class SourceVolume : IDisposable
{
    private readonly VolumeFile _file;
    private readonly Fingerprint _zero;
    private readonly Fingerprint[] _fingerprints;
    private long _bytesRead;

    private SourceVolume(VolumeFile file, int blockSize)
    {
        _file = file;
        Geometry = new VolumeGeometry(file.Length, blockSize);
        _zero = ZeroFingerprints.For(blockSize);
        _fingerprints = new Fingerprint[Geometry.BlockCount];
    }

    public VolumeGeometry Geometry { get; }

    /// <summary>Bytes read from the volume so far (holes skipped by the scan cost nothing).</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public static SourceVolume Open(string path, int blockSize)
    {
        var file = VolumeFile.OpenRead(path);
        try
        {
            return new SourceVolume(file, blockSize);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads blocks [<paramref name="start"/>, +<paramref name="count"/>) into the start of <paramref name="buffer"/>; returns the bytes read.</summary>
    public int Read(Span<byte> buffer, long start, long count)
    {
        int bytes = (int)Geometry.RunBytes(start, count);
        _file.Read(buffer[..bytes], Geometry.Offset(start));
        Interlocked.Add(ref _bytesRead, bytes);
        return bytes;
    }

    /// <summary>
    /// The blocks at or after <paramref name="block"/> that may hold data, [Start, End): every block from
    /// <paramref name="block"/> to Start lies wholly in a hole of the file, so it is a zero block without being read.
    /// A block only partly in a hole counts as data. Where holes cannot be found, everything is data.
    /// </summary>
    public (long Start, long End) DataBlocks(long block)
    {
        var (dataStart, dataEnd) = _file.FindData(Geometry.Offset(block), Geometry.Size);
        long start = Math.Max(block, dataStart / Geometry.BlockSize);
        if (start >= Geometry.BlockCount)
            return (Geometry.BlockCount, Geometry.BlockCount);
        // At least one block of data, even if a writer punched a hole between the two lookups: the scan always moves on.
        long end = Math.Min(Geometry.BlockCount, (dataEnd + Geometry.BlockSize - 1) / Geometry.BlockSize);
        return (start, Math.Max(end, start + 1));
    }

    /// <summary>Records the fingerprints of the zero blocks [<paramref name="start"/>, +<paramref name="count"/>).</summary>
    public void RecordZeros(long start, long count) => Array.Fill(_fingerprints, _zero, checked((int)start), checked((int)count));

    /// <summary>Records the fingerprint of a zero block.</summary>
    public void RecordZero(long block) => _fingerprints[block] = _zero;

    /// <summary>
    /// Fingerprints <paramref name="data"/> (a partial last block zero-padded in <paramref name="blockBuffer"/>, one
    /// block long) and records it.
    /// </summary>
    public Fingerprint Record(long block, ReadOnlySpan<byte> data, Span<byte> blockBuffer)
    {
        var fingerprint = Fingerprint.ComputePadded(data, blockBuffer);
        _fingerprints[block] = fingerprint;
        return fingerprint;
    }

    /// <summary>The end-to-end digest over the fingerprints as recorded.</summary>
    public byte[] Digest() => VolumeDigest.Compute(Geometry, _fingerprints);

    public void Dispose() => _file.Dispose();
}
