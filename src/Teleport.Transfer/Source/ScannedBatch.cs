namespace Teleport.Transfer.Source;

/// <summary>An IndexBatch payload the source's scan thread built (a pooled buffer), waiting for the link.</summary>
/// <param name="Buffer">Pooled buffer holding the payload; returned to the pool once sent or dropped.</param>
/// <param name="Length">Payload bytes in <paramref name="Buffer"/>.</param>
/// <param name="Next">The block after its last entry.</param>
/// <param name="ZeroBlocks">Zero blocks its runs cover.</param>
internal readonly record struct ScannedBatch(byte[] Buffer, int Length, long Next, long ZeroBlocks);
