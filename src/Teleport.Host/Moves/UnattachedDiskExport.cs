using Teleport.Nbd.Exports;

namespace Teleport.Host.Moves;

/// <summary>
/// An incoming VM's disk before the destination storage exports it: the size comes from the VM definition, so QEMU
/// can open its disk at start, and every request fails at once. QEMU reads sector 0 while it starts (virtio-blk
/// guesses a geometry from it, and falls back to one from the size when the read fails); a request that waited
/// here would block QEMU's main loop, and with it the QMP socket the host needs next. The guest never runs on this
/// disk: the host points the VM's path switcher at the real export before 'cont'.
/// </summary>
internal sealed class UnattachedDiskExport(string name, long size) : INbdExport
{
    public string Name { get; } = name;

    public string? Description => "Teleport incoming VM disk (not attached yet)";

    public long Size { get; } = size;

    public bool IsReadOnly => false;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) => Refuse();

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken) => Refuse();

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) => Refuse();

    public ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken) => Refuse();

    // Nothing was written, so nothing needs to be durable (the switch away from here flushes, and must succeed).
    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private ValueTask Refuse() =>
        ValueTask.FromException(new IOException($"the disk of incoming VM export '{Name}' is not attached yet: no I/O before the VM is resumed"));
}
