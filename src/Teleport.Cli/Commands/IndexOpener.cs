using Teleport.Blocks;

namespace Teleport.Cli.Commands;

/// <summary>Opens an index, turning a damaged file into advice the operator can act on.</summary>
internal static class IndexOpener
{
    public static BlockIndex Open(string directory, int blockSize)
    {
        try
        {
            return BlockIndex.Open(directory, blockSize);
        }
        catch (IndexCorruptException ex)
        {
            throw new UserInputException(
                $"{ex.Message} Rebuild it with: teleport index build --rebuild --index {directory} --block-size {blockSize} IMAGE...");
        }
    }
}
