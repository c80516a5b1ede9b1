namespace Teleport.Cli.Commands;

/// <summary>A command that cuts images into blocks of the checked --block-size.</summary>
public abstract class BlockSizeCommand<TSettings> : Command<TSettings>
    where TSettings : BlockSizeSettings
{
    public sealed override int Execute(CommandContext context, TSettings settings, CancellationToken cancellationToken) =>
        Execute(settings, BlockSizeOption.Parse(settings.BlockSize), cancellationToken);

    protected abstract int Execute(TSettings settings, int blockSize, CancellationToken cancellationToken);
}
