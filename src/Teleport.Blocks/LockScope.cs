namespace Teleport.Blocks;

/// <summary>
/// Holds a read or write lock of a <see cref="ReaderWriterLockSlim"/> until disposed: <c>using (LockScope.Write(l))</c>.
/// A struct, so taking the lock on a per-block path allocates nothing.
/// </summary>
internal readonly struct LockScope : IDisposable
{
    private readonly ReaderWriterLockSlim _lock;
    private readonly bool _write;

    private LockScope(ReaderWriterLockSlim @lock, bool write)
    {
        _lock = @lock;
        _write = write;
    }

    public static LockScope Read(ReaderWriterLockSlim @lock)
    {
        @lock.EnterReadLock();
        return new LockScope(@lock, write: false);
    }

    public static LockScope Write(ReaderWriterLockSlim @lock)
    {
        @lock.EnterWriteLock();
        return new LockScope(@lock, write: true);
    }

    public void Dispose()
    {
        if (_write)
            _lock.ExitWriteLock();
        else
            _lock.ExitReadLock();
    }
}
