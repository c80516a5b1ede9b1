namespace Teleport.Storage.DirtyTracking;

/// <summary>Who records a volume's writes (configuration key Storage:Volumes:NAME:DirtyTracking:Mode).</summary>
public enum DirtyTrackingMode
{
    /// <summary>The kernel target when the volume is a dm-dirtytrack device, else the storage worker itself.</summary>
    Auto,

    /// <summary>The storage worker's own bitmap: right when every write reaches the volume through its NBD export.</summary>
    Userspace,

    /// <summary>The dm-dirtytrack kernel target; the volume must be one (LIO, local LVM and other exporters).</summary>
    Kernel,
}
