namespace Teleport.Cli.Demo;

/// <summary>
/// What <see cref="DemoImages"/> generated: the volume's blocks by origin, and the window at its start that the
/// VM writes its records into (zero when generated).
/// </summary>
public sealed record DemoLayout(
    string BasePath,
    string VolumePath,
    long VolumeBytes,
    long Blocks,
    long BlocksFromBase,
    long NewBlocks,
    long ZeroBlocks,
    long WindowFirstBlock,
    long WindowBlocks)
{
    public long WindowOffset => WindowFirstBlock * DemoImages.BlockSize;

    public long WindowBytes => WindowBlocks * DemoImages.BlockSize;
}
