namespace Teleport.Contracts;

/// <summary>
/// What the destination host needs to start a VM's incoming QEMU: the QEMU arguments of its machine and devices
/// (no disk backend, monitor, QMP or -incoming: the destination host adds its own), the node name its disk device
/// refers to, and the disk's and memory's sizes. Comes from the source host's configuration; the destination host
/// validates it (QEMU arguments only, never a shell) before it starts anything.
/// </summary>
public sealed record VmDefinition(
    IReadOnlyList<string> Arguments,
    string DiskNodeName,
    long DiskBytes,
    long MemoryBytes)
{
    /// <summary>Value equality over the arguments too (a record compares a list by reference).</summary>
    public bool Equals(VmDefinition? other) =>
        other is not null && Arguments.SequenceEqual(other.Arguments) && DiskNodeName == other.DiskNodeName &&
        DiskBytes == other.DiskBytes && MemoryBytes == other.MemoryBytes;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Arguments.Count, DiskNodeName, DiskBytes, MemoryBytes);
}
