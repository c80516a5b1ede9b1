using System.Runtime.InteropServices;

namespace Teleport.Storage.DirtyTracking;

/// <summary>struct dirtytrack_range of kmod/dm-dirtytrack.h (DIRTYTRACK_IOC_TAKE and _MARK).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DirtyTrackRange
{
    public ulong First;
    public ulong Count;
    /// <summary>User pointer to (Count + 63) / 64 words receiving the taken bits, or 0.</summary>
    public ulong Bits;
    public ulong Taken;
}
