using Microsoft.Win32.SafeHandles;

namespace Teleport.Blocks;

/// <summary>What the index knows about one image, and a lazily opened read handle for verified lookups.</summary>
internal sealed class ImageRecord(int id, string path)
{
    private readonly Lock _handleGate = new();
    private SafeFileHandle? _handle;
    private bool _closed;

    public int Id { get; } = id;
    public string Path { get; } = path;

    /// <summary>Identity when last fully indexed; null while not (yet) trustworthy, which forces a re-scan.</summary>
    public ImageIdentity? Identity { get; set; }

    /// <summary>Receiving blocks through <see cref="BlockIndex.Add"/>: identity is refreshed at save, not checked.</summary>
    public bool Live { get; set; }

    public long Blocks { get; set; }
    public long ZeroBlocks { get; set; }
    public long NonZeroBlocks { get; set; }

    /// <summary>Blocks whose entry was dropped because another image's entry has the same key.</summary>
    public long SharedBlocks { get; set; }

    public IndexedImage ToPublic() =>
        new(Path, Blocks, ZeroBlocks, NonZeroBlocks, SharedBlocks, Identity?.IsBlockDevice ?? false, Live);

    /// <summary>
    /// Reads block <paramref name="blockNumber"/> into <paramref name="block"/> (zero-padded past the end of the
    /// image) and fingerprints it; false when the image cannot be read there.
    /// </summary>
    public bool TryFingerprint(long blockNumber, Span<byte> block, out Fingerprint content)
    {
        content = default;
        try
        {
            var handle = GetHandle();
            if (handle is null)
                return false;
            int got = FileReads.ReadAtMost(handle, block, blockNumber * block.Length);
            if (got == 0)
                return false;
            content = Fingerprint.ComputePadded(block[..got], block);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>The read handle (opened on first use), or null when the image is closed or cannot be opened.</summary>
    public SafeFileHandle? TryGetHandle()
    {
        try
        {
            return GetHandle();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Drops the handle so the next read reopens the path (the file may have been replaced).</summary>
    public void ResetHandle()
    {
        lock (_handleGate)
        {
            _handle?.Dispose();
            _handle = null;
        }
    }

    /// <summary>Closes the handle for good: the image left the index.</summary>
    public void Close()
    {
        lock (_handleGate)
        {
            _closed = true;
            _handle?.Dispose();
            _handle = null;
        }
    }

    private SafeFileHandle? GetHandle()
    {
        lock (_handleGate)
        {
            if (_closed)
                return null;
            return _handle ??= File.OpenHandle(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
    }
}
