using System.Runtime.InteropServices;

namespace Teleport.Blocks;

/// <summary>
/// Batched reads through one io_uring instance (raw system calls; the rings mapped once): a batch's reads go to the
/// kernel with one <c>io_uring_enter</c>, which also waits for their completions, where <c>pread</c> costs a system
/// call per read (dear on a paravirtualised guest: docs/performance.md). At most <see cref="Capacity"/> reads are in
/// flight, and the completion ring is twice that, so completions never overflow. Layouts are the stable kernel ABI
/// (include/uapi/linux/io_uring.h).
/// </summary>
internal sealed unsafe partial class UringReads : BatchReads
{
    private const int SysSetup = 425, SysEnter = 426; // x86-64 and arm64 share these numbers
    private const uint EnterGetEvents = 1;
    private const uint FeatSingleMmap = 1, FeatFastPoll = 1 << 5; // FAST_POLL came in 5.7, after IORING_OP_READ (5.6)
    private const byte OpRead = 22;
    private const long OffSqes = 0x10000000;
    private const int SqeSize = 64, CqeSize = 16, ParamsSize = 120;
    private const int ProtReadWrite = 3, MapSharedPopulate = 0x01 | 0x8000;

    private int _ringFd;
    private readonly int _entries;
    private readonly Mapping _map;
    private readonly uint* _sqHead, _sqTail, _cqHead, _cqTail;
    private readonly uint _sqMask, _cqMask;
    private readonly byte* _cqes;
    private bool _broken;

    private UringReads(int ringFd, int entries, Mapping map, ReadOnlySpan<byte> p)
    {
        (_ringFd, _entries, _map) = (ringFd, entries, map);
        byte* ring = map.Ring;
        _sqHead = (uint*)(ring + U32(p, 40));
        _sqTail = (uint*)(ring + U32(p, 44));
        _sqMask = *(uint*)(ring + U32(p, 48));
        uint* array = (uint*)(ring + U32(p, 64));
        _cqHead = (uint*)(ring + U32(p, 80));
        _cqTail = (uint*)(ring + U32(p, 84));
        _cqMask = *(uint*)(ring + U32(p, 88));
        _cqes = ring + U32(p, 100);
        // Submission slots are used in ring order, so the indirection array is the identity, set once.
        for (uint i = 0; i <= _sqMask; i++)
            array[i] = i;
    }

    public override int Capacity => _entries;

    public override BatchReadMode Mode => BatchReadMode.Uring;

    public override bool Broken => _broken;

    /// <summary>A ring of at least <paramref name="entries"/> submissions, or null and why not.</summary>
    public static UringReads? TryCreate(int entries, out string? reason)
    {
        byte* parameters = stackalloc byte[ParamsSize];
        var p = new Span<byte>(parameters, ParamsSize);
        p.Clear();
        int fd = (int)Syscall(SysSetup, entries, (nint)parameters, 0, 0, 0, 0);
        if (fd < 0)
        {
            reason = $"io_uring_setup failed (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }
        uint features = U32(p, 20);
        if ((features & (FeatSingleMmap | FeatFastPoll)) != (FeatSingleMmap | FeatFastPoll))
        {
            _ = Close(fd);
            reason = $"io_uring without single-mmap rings or IORING_OP_READ (features 0x{features:x}: kernel before 5.7)";
            return null;
        }
        uint sqEntries = U32(p, 0), cqEntries = U32(p, 4);
        nuint ringBytes = Math.Max(U32(p, 64) + sqEntries * 4, U32(p, 100) + cqEntries * CqeSize);
        nuint sqeBytes = sqEntries * SqeSize;
        byte* ring = (byte*)MMap(null, ringBytes, ProtReadWrite, MapSharedPopulate, fd, 0);
        byte* sqes = ring == (byte*)-1 ? (byte*)-1 : (byte*)MMap(null, sqeBytes, ProtReadWrite, MapSharedPopulate, fd, OffSqes);
        if (ring == (byte*)-1 || sqes == (byte*)-1)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (ring != (byte*)-1)
                _ = MUnmap(ring, ringBytes);
            _ = Close(fd);
            reason = $"mapping the io_uring rings failed (errno {errno})";
            return null;
        }
        reason = null;
        return new UringReads(fd, (int)sqEntries, new Mapping(ring, ringBytes, sqes, sqeBytes), p);
    }

    protected override void ReadAll(ReadOnlySpan<ReadOp> ops, Span<int> results)
    {
        ObjectDisposedException.ThrowIf(_ringFd < 0, this);
        if (_broken)
            throw new IOException("The io_uring instance failed earlier and may still own buffers; it is not used again.");
        Queue(ops);
        int done = 0;
        while (done < ops.Length)
        {
            // What the kernel has not taken yet (an interrupted call may have taken part of it).
            int unsubmitted = (int)(*_sqTail - Volatile.Read(ref *_sqHead));
            if (Syscall(SysEnter, _ringFd, unsubmitted, ops.Length - done, EnterGetEvents, 0, 0) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is not (Errno.Interrupted or Errno.Again or Errno.Busy))
                {
                    // Reads may still be in flight into the caller's buffers: this ring must never be trusted again.
                    _broken = true;
                    throw new IOException($"io_uring_enter failed (errno {errno}).");
                }
            }
            done += Reap(results);
        }
    }

    // Fills one submission entry per read (user_data = its index) and publishes the new tail.
    private void Queue(ReadOnlySpan<ReadOp> ops)
    {
        uint tail = *_sqTail; // only this side writes the tail
        for (int i = 0; i < ops.Length; i++)
        {
            byte* sqe = _map.Sqes + ((tail & _sqMask) * SqeSize);
            new Span<byte>(sqe, SqeSize).Clear();
            sqe[0] = OpRead;
            *(int*)(sqe + 4) = ops[i].Fd;
            *(long*)(sqe + 8) = ops[i].Offset;
            *(ulong*)(sqe + 16) = (ulong)ops[i].Buffer;
            *(uint*)(sqe + 24) = (uint)ops[i].Length;
            *(ulong*)(sqe + 32) = (ulong)i;
            tail++;
        }
        // Release: the kernel must see the entries before the tail that publishes them.
        Volatile.Write(ref *_sqTail, tail);
    }

    // Takes the completions posted so far; returns how many.
    private int Reap(Span<int> results)
    {
        uint head = *_cqHead; // only this side writes the head
        uint tail = Volatile.Read(ref *_cqTail); // acquire: the entries up to it are written
        int count = 0;
        for (; head != tail; head++, count++)
        {
            byte* cqe = _cqes + (head & _cqMask) * CqeSize;
            ulong index = *(ulong*)cqe;
            if (index >= (ulong)results.Length)
            {
                _broken = true;
                throw new IOException($"io_uring completed an unknown read ({index}).");
            }
            results[(int)index] = *(int*)(cqe + 8);
        }
        // Release: the entries are read before the kernel may reuse their slots.
        Volatile.Write(ref *_cqHead, head);
        return count;
    }

    public override void Dispose()
    {
        if (_ringFd < 0)
            return;
        // A broken ring may still write into memory it was given: keep the mapping and the ring alive (leaked) then.
        if (_broken)
            return;
        _ = MUnmap(_map.Sqes, _map.SqeBytes);
        _ = MUnmap(_map.Ring, _map.RingBytes);
        _ = Close(_ringFd);
        _ringFd = -1;
    }

    // The rings (submission and completion, one mapping) and the submission entries.
    private readonly struct Mapping(byte* ring, nuint ringBytes, byte* sqes, nuint sqeBytes)
    {
        public byte* Ring { get; } = ring;
        public nuint RingBytes { get; } = ringBytes;
        public byte* Sqes { get; } = sqes;
        public nuint SqeBytes { get; } = sqeBytes;
    }

    private static uint U32(ReadOnlySpan<byte> p, int offset) => MemoryMarshal.Read<uint>(p[offset..]);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long a1, nint a2, long a3, long a4, long a5, long a6);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* MMap(void* address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int MUnmap(void* address, nuint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
