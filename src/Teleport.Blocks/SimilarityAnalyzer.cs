namespace Teleport.Blocks;

/// <summary>
/// Compares images by content: which non-zero blocks of a target a destination holding the bases already has.
/// Works on <see cref="ImageDigest"/>s so each image is read and hashed once, however many pairs it is in.
/// </summary>
public static class SimilarityAnalyzer
{
    /// <summary>The content set of the bases' non-zero blocks.</summary>
    public static HashSet<UInt128> NonZeroContent(IEnumerable<ImageDigest> bases)
    {
        var set = new HashSet<UInt128>();
        foreach (var image in bases)
            foreach (var key in image.NonZeroKeys())
                set.Add(key);
        return set;
    }

    /// <summary>Classifies every block of <paramref name="target"/> against <paramref name="baseContent"/>.</summary>
    public static SimilarityReport Compare(IReadOnlySet<UInt128> baseContent, ImageDigest target)
    {
        long hits = 0, selfDuplicates = 0, mustSend = 0;
        var seen = new HashSet<UInt128>();
        for (long block = 0; block < target.Blocks; block++)
        {
            if (target.IsZero(block))
                continue;
            var key = target.Key(block);
            if (baseContent.Contains(key))
                hits++;
            else if (!seen.Add(key))
                selfDuplicates++;
            else
                mustSend++;
        }
        long nonZero = target.Blocks - target.ZeroBlocks;
        return new SimilarityReport(target.BlockSize, target.Blocks, target.ZeroBlocks, nonZero, hits, selfDuplicates, mustSend);
    }

    /// <summary>One target against one base.</summary>
    public static SimilarityReport Compare(ImageDigest baseImage, ImageDigest target)
    {
        RequireSameBlockSize(baseImage, target);
        return Compare(NonZeroContent([baseImage]), target);
    }

    private static void RequireSameBlockSize(ImageDigest a, ImageDigest b)
    {
        if (a.BlockSize != b.BlockSize)
            throw new ArgumentException($"Block sizes differ: {a.Path} has {a.BlockSize}, {b.Path} has {b.BlockSize}.");
    }
}
