namespace Teleport.Cli.Infrastructure;

/// <summary>Options of a command that cuts images into blocks; <see cref="BlockSizeOption"/> checks the value.</summary>
public class BlockSizeSettings : JsonSettings
{
    [CommandOption("--block-size <SIZE>")]
    [Description("Block size: a power of two from 512 to 64k.")]
    [DefaultValue("4096")]
    public string BlockSize { get; init; } = "4096";
}
