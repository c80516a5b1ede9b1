using System.Runtime.InteropServices;

namespace Teleport.Storage.DirtyTracking;

/// <summary>struct dirtytrack_status of kmod/dm-dirtytrack.h (DIRTYTRACK_IOC_STATUS).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DirtyTrackStatus
{
    public uint BlockSize;
    public uint Flags;
    public ulong BlockCount;
    public ulong DirtyCount;
    public ulong Sectors;
}
