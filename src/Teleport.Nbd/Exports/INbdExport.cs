namespace Teleport.Nbd.Exports;

/// <summary>
/// A byte range served over NBD. Callers (the server) validate ranges first; implementations still
/// refuse out-of-range access. Writers of data (write, trim, write-zeroes) mark the touched blocks
/// dirty in the volume's tracker when there is one.
/// </summary>
public interface INbdExport
{
    /// <summary>Name clients ask for in NBD_OPT_GO / NBD_OPT_EXPORT_NAME.</summary>
    string Name { get; }

    /// <summary>Human-readable text for NBD_OPT_LIST and NBD_INFO_DESCRIPTION, or null.</summary>
    string? Description { get; }

    /// <summary>Size in bytes.</summary>
    long Size { get; }

    bool IsReadOnly { get; }

    /// <summary>Reads exactly <c>buffer.Length</c> bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="data"/>; with <paramref name="fua"/> it is durable before returning.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken);

    /// <summary>Discards a range; it reads back as zeroes afterwards.</summary>
    ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken);

    /// <summary>Zeroes a range; <paramref name="noHole"/> asks to keep it allocated.</summary>
    ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken);

    /// <summary>Makes every completed write durable (across all connections sharing the export).</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);
}
