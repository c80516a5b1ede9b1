using System.Runtime.InteropServices;

namespace Teleport.Blocks;

/// <summary>
/// A block of native memory that large summaries get in transparent huge pages (aligned to 2 MiB and advised so):
/// the key summary is probed at random, and over hundreds of MB of 4 KiB pages nearly every probe also misses the
/// TLB, a page walk (nested under a hypervisor) on top of the cache miss. Not zeroed. Freed on dispose, or by the
/// finalizer if forgotten.
/// </summary>
internal sealed unsafe class HugePageMemory : SafeHandle
{
    private const long HugePage = 2 << 20;
    private const int CacheLine = 64;

    private HugePageMemory(void* pointer, long length) : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle((IntPtr)pointer);
        Length = length;
    }

    /// <summary>Bytes usable from <see cref="Pointer"/>.</summary>
    public long Length { get; }

    public byte* Pointer => (byte*)handle;

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary><paramref name="length"/> bytes; huge pages from 2 MiB up (smaller blocks would waste most of one).</summary>
    public static HugePageMemory Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length < HugePage)
            return new HugePageMemory(NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), CacheLine), length);
        // Whole huge pages, so the last one is not shared with another allocation.
        long rounded = (length + HugePage - 1) / HugePage * HugePage;
        void* pointer = NativeMemory.AlignedAlloc((nuint)rounded, (nuint)HugePage);
        NativeFile.AdviseHugePages(pointer, (nuint)rounded);
        return new HugePageMemory(pointer, length);
    }

    protected override bool ReleaseHandle()
    {
        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
