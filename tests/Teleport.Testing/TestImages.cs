using Teleport.Blocks;

namespace Teleport.Testing;

/// <summary>
/// Small image files with known block contents. The static members build images block by block from seeds; an
/// instance is a pair of generated images with known overlap (<see cref="Base"/>, <see cref="Target"/>) in a
/// temporary directory of its own.
/// </summary>
public sealed class TestImages : IDisposable
{
    /// <summary>The block size of the generated <see cref="Base"/> and <see cref="Target"/>.</summary>
    public const int BlockSize = 4096;

    public TestImages()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("teleport-images-").FullName;
        var random = new Random(42);
        byte[] shared = RandomBlocks(random, 64);
        // base: 64 shared blocks + 64 of its own
        Base = WriteParts("base.img", shared, RandomBlocks(random, 64));
        // target: the 64 shared blocks, 32 zero blocks, 16 new blocks, then the first 8 new blocks again
        byte[] fresh = RandomBlocks(random, 16);
        Target = WriteParts("target.img", shared, new byte[32 * BlockSize], fresh, fresh.AsSpan(0, 8 * BlockSize).ToArray());
    }

    public string Directory { get; }

    public string Base { get; }

    public string Target { get; }

    public string PathOf(string name) => System.IO.Path.Combine(Directory, name);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    /// <summary>A block whose content is determined by <paramref name="seed"/> (never all zero).</summary>
    public static byte[] Block(int seed, int blockSize = BlockSizes.Default)
    {
        byte[] block = new byte[blockSize];
        new Random(seed).NextBytes(block);
        block[0] |= 1;
        return block;
    }

    /// <summary>Writes an image whose block i is <c>Block(seeds[i])</c>, or zeros where the seed is null.</summary>
    public static string Write(string path, IReadOnlyList<int?> seeds, int blockSize = BlockSizes.Default)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        foreach (int? seed in seeds)
        {
            stream.Write(seed is { } s ? Block(s, blockSize) : new byte[blockSize]);
        }

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

    private string WriteParts(string name, params byte[][] parts)
    {
        string path = PathOf(name);
        using var file = File.Create(path);
        foreach (byte[] part in parts)
        {
            file.Write(part);
        }

        return path;
    }

    private static byte[] RandomBlocks(Random random, int count)
    {
        byte[] bytes = new byte[count * BlockSize];
        random.NextBytes(bytes);
        return bytes;
    }
}
