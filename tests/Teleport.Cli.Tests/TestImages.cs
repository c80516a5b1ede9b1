namespace Teleport.Cli.Tests;

/// <summary>Small generated images with known overlap, in a temporary directory.</summary>
internal sealed class TestImages : IDisposable
{
    public const int BlockSize = 4096;

    public TestImages()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("teleport-cli-").FullName;
        var random = new Random(42);
        var shared = Blocks(random, 64);
        // base: 64 shared blocks + 64 of its own
        Base = Write("base.img", shared, Blocks(random, 64));
        // target: the 64 shared blocks, 32 zero blocks, 16 new blocks, then the first 8 new blocks again
        var fresh = Blocks(random, 16);
        Target = Write("target.img", shared, new byte[32 * BlockSize], fresh, fresh.AsSpan(0, 8 * BlockSize).ToArray());
    }

    public string Directory { get; }

    public string Base { get; }

    public string Target { get; }

    public string PathOf(string name) => Path.Combine(Directory, name);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private string Write(string name, params byte[][] parts)
    {
        var path = PathOf(name);
        using var file = File.Create(path);
        foreach (var part in parts)
            file.Write(part);
        return path;
    }

    private static byte[] Blocks(Random random, int count)
    {
        var bytes = new byte[count * BlockSize];
        random.NextBytes(bytes);
        return bytes;
    }
}
