using System.Diagnostics.CodeAnalysis;

namespace Teleport.Blocks;

/// <summary>
/// The images an index covers, by id (packed into every entry) and by path. Changes are made under the index's
/// write lock; the id array is copied on write, so a lookup keeps reading the array it captured after the lock.
/// </summary>
internal sealed class ImageCatalog
{
    private readonly Dictionary<string, ImageRecord> _byPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ImageRecord> _addAliases = new(StringComparer.Ordinal); // paths as given to Add

    /// <summary>Images by id; slot 0 is unused and a removed image's slot is null.</summary>
    public ImageRecord?[] ById { get; private set; } = [null];

    /// <summary>
    /// The one candidate check: reads the block <paramref name="location"/> points to into <paramref name="block"/>
    /// and fingerprints it. False when its image left <paramref name="images"/> or cannot be read there.
    /// </summary>
    public static bool TryFingerprint(ImageRecord?[] images, ulong location, Span<byte> block, out Fingerprint content)
    {
        int id = IndexEntry.ImageIdOf(location);
        if (id < images.Length && images[id] is { } image)
            return image.TryFingerprint(IndexEntry.BlockOf(location), block, out content);
        content = default;
        return false;
    }

    public bool TryGet(string fullPath, [MaybeNullWhen(false)] out ImageRecord image) => _byPath.TryGetValue(fullPath, out image);

    /// <summary>Registers an image read from the index file.</summary>
    public void Load(ImageRecord image) => Register(image);

    /// <summary>Registers a new image under the lowest free id.</summary>
    public ImageRecord Add(string fullPath) => Register(new ImageRecord(NextId(), fullPath));

    /// <summary>
    /// The image a received block goes to, registered on first use. Called per block: the path as given maps
    /// straight to its record, no path allocation.
    /// </summary>
    public ImageRecord ForReceived(string imagePath)
    {
        if (!_addAliases.TryGetValue(imagePath, out var image))
        {
            string full = Path.GetFullPath(imagePath);
            if (!_byPath.TryGetValue(full, out image))
            {
                if (NativeFile.Stat(full) is null)
                    throw new FileNotFoundException($"Image '{full}' does not exist.", full);
                image = Add(full);
            }
            _addAliases[imagePath] = image;
        }
        return image;
    }

    /// <summary>Drops an image and closes its handle; its entries are the caller's to purge.</summary>
    public void Remove(ImageRecord image)
    {
        ById = (ImageRecord?[])ById.Clone();
        ById[image.Id] = null;
        _byPath.Remove(image.Path);
        _addAliases.Clear();
        image.Close();
    }

    /// <summary>
    /// After entries were purged, images whose shared content was indexed under them lose coverage: they forget
    /// their identity (so a failed update still re-reads them next time) and are returned to be read again.
    /// </summary>
    public List<(ImageRecord Image, ImageIdentity Identity)> LoseSharedCoverage()
    {
        var lost = new List<(ImageRecord, ImageIdentity)>();
        foreach (var image in ById)
        {
            if (image is { SharedBlocks: > 0, Live: false, Identity: { } identity })
            {
                image.Identity = null;
                lost.Add((image, identity));
            }
        }
        return lost;
    }

    /// <summary>Images that received blocks take their identity now (at save), and are no longer live.</summary>
    public void TakeLiveIdentities()
    {
        foreach (var image in ById)
        {
            if (image is { Live: true })
            {
                image.Identity = NativeFile.Stat(image.Path);
                image.Live = false;
            }
        }
    }

    /// <summary>Copies of the records, for a writer that must not see counters change under it.</summary>
    public List<ImageRecord> Copies()
    {
        var copies = new List<ImageRecord>();
        foreach (var image in ById)
        {
            if (image is not null)
            {
                copies.Add(new ImageRecord(image.Id, image.Path)
                {
                    Identity = image.Identity,
                    Blocks = image.Blocks,
                    ZeroBlocks = image.ZeroBlocks,
                    NonZeroBlocks = image.NonZeroBlocks,
                    SharedBlocks = image.SharedBlocks,
                });
            }
        }
        return copies;
    }

    /// <summary>Images covered and their block counts, summed.</summary>
    public (int Images, long Blocks, long ZeroBlocks, long NonZeroBlocks) Totals()
    {
        int count = 0;
        long blocks = 0, zero = 0, nonZero = 0;
        foreach (var image in ById)
        {
            if (image is null)
                continue;
            count++;
            blocks += image.Blocks;
            zero += image.ZeroBlocks;
            nonZero += image.NonZeroBlocks;
        }
        return (count, blocks, zero, nonZero);
    }

    public void CloseAll()
    {
        foreach (var image in ById)
            image?.Close();
    }

    private ImageRecord Register(ImageRecord image)
    {
        if (image.Id >= ById.Length)
        {
            var grown = new ImageRecord?[Math.Max(image.Id + 1, ById.Length * 2)];
            Array.Copy(ById, grown, ById.Length);
            ById = grown;
        }
        else
        {
            // Copy on write: lookups hold on to the array they captured.
            ById = (ImageRecord?[])ById.Clone();
        }
        ById[image.Id] = image;
        _byPath[image.Path] = image;
        return image;
    }

    private int NextId()
    {
        for (int id = 1; id < ById.Length; id++)
            if (ById[id] is null)
                return id;
        if (ById.Length > IndexEntry.MaxImageId)
            throw new InvalidOperationException($"The index already covers {IndexEntry.MaxImageId} images, its maximum.");
        return ById.Length;
    }
}
