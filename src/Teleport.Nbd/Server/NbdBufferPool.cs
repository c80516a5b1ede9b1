using System.Numerics;

namespace Teleport.Nbd.Server;

/// <summary>
/// The payload buffers of one server, kept for reuse by size (powers of two). Unlike the shared pool it has no
/// per-thread caches where buffers strand, and its owner trims it so that buffers kept plus buffers in use stay
/// within the memory budget.
/// </summary>
internal sealed class NbdBufferPool
{
    private readonly Lock _lock = new();
    private readonly Stack<byte[]>?[] _bySize = new Stack<byte[]>?[32];
    private long _kept;

    /// <summary>Bytes of buffers kept for reuse.</summary>
    public long Kept
    {
        get
        {
            lock (_lock)
            {
                return _kept;
            }
        }
    }

    /// <summary>A kept buffer of exactly <paramref name="size"/> bytes (a power of two), or null.</summary>
    public byte[]? TryTake(long size)
    {
        lock (_lock)
        {
            if (_bySize[BitOperations.Log2((ulong)size)] is { Count: > 0 } stack)
            {
                _kept -= size;
                return stack.Pop();
            }
        }

        return null;
    }

    public void Put(byte[] buffer)
    {
        lock (_lock)
        {
            (_bySize[BitOperations.Log2((ulong)buffer.Length)] ??= new Stack<byte[]>()).Push(buffer);
            _kept += buffer.Length;
        }
    }

    /// <summary>Lets go of kept buffers, largest first, until at most <paramref name="keep"/> bytes are kept.</summary>
    /// <returns>The bytes let go of.</returns>
    public long Trim(long keep)
    {
        long before;
        lock (_lock)
        {
            before = _kept;
            for (int i = _bySize.Length - 1; i >= 0 && _kept > keep; i--)
            {
                while (_kept > keep && _bySize[i] is { Count: > 0 } stack)
                {
                    _kept -= stack.Pop().Length;
                }
            }

            return before - _kept;
        }
    }
}
