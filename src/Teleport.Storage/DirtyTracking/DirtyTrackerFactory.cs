using Teleport.Blocks;

namespace Teleport.Storage.DirtyTracking;

/// <summary>Picks a volume's dirty tracker: the dm-dirtytrack kernel target's, or the worker's own bitmap.</summary>
public static class DirtyTrackerFactory
{
    /// <summary>
    /// The tracker for the volume at <paramref name="volumePath"/> of <paramref name="volumeBytes"/> bytes. A kernel
    /// tracker must agree with the options' block size and the volume's size: a mismatch is a configuration error,
    /// never silently worked around, since falling back would miss the writes only the kernel sees.
    /// A <see cref="KernelDirtyTracker"/> holds a file descriptor: dispose the result when it is <see cref="IDisposable"/>.
    /// </summary>
    public static IDirtyTracker Create(string volumePath, long volumeBytes, DirtyTrackingOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(volumePath);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(volumeBytes);
        BlockSizes.Validate(options.BlockSize);

        if (options.Mode == DirtyTrackingMode.Userspace)
            return new DirtyBitmap(BlockSizes.CountBlocks(volumeBytes, options.BlockSize), options.BlockSize);

        string? tracker = new DirtyTrackDeviceLocator(options.DevRoot, options.SysRoot).FindTracker(volumePath);
        if (tracker is null)
        {
            if (options.Mode == DirtyTrackingMode.Kernel)
                throw new InvalidOperationException(
                    $"Dirty tracking of {volumePath} is set to Kernel, but it is not a device-mapper device with a dirtytrack " +
                    "table (no /dev/dirtytrack/dm-N for it). Put the dm-dirtytrack target under the volume (kmod/README.md).");
            return new DirtyBitmap(BlockSizes.CountBlocks(volumeBytes, options.BlockSize), options.BlockSize);
        }

        var kernel = KernelDirtyTracker.Open(tracker);
        try
        {
            if (kernel.BlockSize != options.BlockSize)
                throw new InvalidOperationException(
                    $"The dirtytrack table of {volumePath} tracks {kernel.BlockSize}-byte blocks, but the volume is configured " +
                    $"for {options.BlockSize}: reload the table with {options.BlockSize} or change DirtyTracking:BlockSize.");
            if (kernel.VolumeBytes != volumeBytes)
                throw new InvalidOperationException(
                    $"The dirtytrack table of {volumePath} covers {kernel.VolumeBytes} bytes, but the volume has {volumeBytes}.");
            return kernel;
        }
        catch
        {
            kernel.Dispose();
            throw;
        }
    }
}
