using Teleport.Blocks;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// One IndexBatch entry: a block's 128-bit fingerprint prefix, a run of zero blocks starting at <see cref="Block"/>, or
/// (when <see cref="Repeat"/> is above 0) a block with the content of the <see cref="Repeat"/>-th most recent
/// fingerprint entry on this connection.
/// </summary>
internal readonly record struct IndexBatchEntry(long Block, long Count, bool Zero, FingerprintPrefix Prefix, long Repeat = 0);
