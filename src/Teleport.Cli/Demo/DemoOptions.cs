using Teleport.Transfer;

namespace Teleport.Cli.Demo;

/// <summary>What the demo was asked for (validated); everything else is an embedded default. <see cref="WholeVm"/> moves the QEMU guest <see cref="Guest"/> whole.</summary>
public sealed record DemoOptions(long VolumeBytes, ByteRate Bandwidth, string? KeepDirectory, bool Verbose, GuestImage? Guest = null,
    bool WholeVm = false)
{
    public const long MinVolumeBytes = 4L << 20;
    public const long MaxVolumeBytes = 16L << 30;
}
