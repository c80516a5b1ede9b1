namespace Teleport.Blocks;

/// <summary>
/// What must stay equal for an indexed image to be trusted unchanged: device, inode, size, mtime and ctime
/// (ctime cannot be set back by a user, so touch -d cannot hide a change).
/// </summary>
internal readonly record struct ImageIdentity(
    ulong Device, ulong Inode, long Size, long ModifiedNs, long ChangedNs, bool IsBlockDevice);
