using Teleport.Blocks;

namespace Teleport.Cli.Infrastructure;

/// <summary>Turns a --block-size value into a validated block size.</summary>
public static class BlockSizeOption
{
    public static int Parse(string text)
    {
        long bytes = ByteSize.Parse(text, "--block-size");
        if (bytes < BlockSizes.Min || bytes > BlockSizes.Max || (bytes & (bytes - 1)) != 0)
            throw new UserInputException($"--block-size {text} must be a power of two from {BlockSizes.Min} to {BlockSizes.Max} bytes.");
        return (int)bytes;
    }
}
