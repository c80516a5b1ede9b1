namespace Teleport.Blocks.Tests;

/// <summary>Builds small image files with known block contents.</summary>
public static class TestImages
{
    /// <summary>A block whose content is determined by <paramref name="seed"/> (never all zero).</summary>
    public static byte[] Block(int seed, int blockSize = BlockSizes.Default)
    {
        var block = new byte[blockSize];
        new Random(seed).NextBytes(block);
        block[0] |= 1;
        return block;
    }

    /// <summary>Writes an image whose block i is <c>Block(seeds[i])</c>, or zeros where the seed is null.</summary>
    public static string Write(string path, IReadOnlyList<int?> seeds, int blockSize = BlockSizes.Default)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        foreach (var seed in seeds)
            stream.Write(seed is { } s ? Block(s, blockSize) : new byte[blockSize]);
        return path;
    }

    /// <summary>Overwrites block <paramref name="block"/> of an existing image in place.</summary>
    public static void Overwrite(string path, long block, byte[] content)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
        RandomAccess.Write(handle, content, block * content.Length);
    }

    public static Fingerprint FingerprintOf(int seed, int blockSize = BlockSizes.Default) =>
        Fingerprint.Compute(Block(seed, blockSize));
}
