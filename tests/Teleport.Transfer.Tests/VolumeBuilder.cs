namespace Teleport.Transfer.Tests;

/// <summary>Writes test volumes block by block from a recipe: random, zero, compressible text, or a copy of another block.</summary>
public static class VolumeBuilder
{
    public const int BlockSize = 4096;

    /// <summary>
    /// Recipe letters, one per block: 'r' random, 'z' zero, 't' compressible text, 'a'..'e' fixed patterns
    /// (the same letter gives identical blocks). <paramref name="tail"/> extra bytes make the size not a block multiple.
    /// </summary>
    public static byte[] Build(string recipe, int seed, int tail = 0)
    {
        var random = new Random(seed);
        byte[] bytes = new byte[recipe.Length * BlockSize + tail];
        for (int i = 0; i < recipe.Length; i++)
            Fill(bytes.AsSpan(i * BlockSize, BlockSize), recipe[i], random);
        if (tail > 0)
            random.NextBytes(bytes.AsSpan(recipe.Length * BlockSize));
        return bytes;
    }

    public static void Fill(Span<byte> block, char kind, Random random)
    {
        switch (kind)
        {
            case 'r':
                random.NextBytes(block);
                break;
            case 'z':
                block.Clear();
                break;
            case 't':
                for (int i = 0; i < block.Length; i++)
                    block[i] = (byte)"teleport moves disks across the wan "[(i + random.Next(3)) % 36];
                break;
            default:
                new Random(kind).NextBytes(block);
                break;
        }
    }

    public static string Repeat(string part, int times) => string.Concat(Enumerable.Repeat(part, times));
}
