using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>One IndexBatch entry: a block's fingerprint, or a run of zero blocks starting at <see cref="Block"/>.</summary>
internal readonly record struct IndexBatchEntry(long Block, long Count, bool Zero, Fingerprint Fingerprint);
