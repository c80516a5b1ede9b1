using Teleport.Blocks;

namespace Teleport.Storage.DirtyTracking;

/// <summary>
/// How a volume's writes are tracked; bound from the section Storage:Volumes:NAME:DirtyTracking, e.g.
/// <c>"DirtyTracking": { "Mode": "Kernel", "BlockSize": 4096 }</c>.
/// </summary>
public sealed record DirtyTrackingOptions
{
    public DirtyTrackingMode Mode { get; init; } = DirtyTrackingMode.Auto;

    /// <summary>Tracking block size in bytes; a kernel target's table must use the same.</summary>
    public int BlockSize { get; init; } = BlockSizes.Default;

    /// <summary>Where device nodes live (tests point it elsewhere).</summary>
    public string DevRoot { get; init; } = "/dev";

    /// <summary>Where sysfs is mounted (tests point it elsewhere).</summary>
    public string SysRoot { get; init; } = "/sys";
}
