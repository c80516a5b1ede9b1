namespace Teleport.Blocks;

/// <summary>Zero-block detection without hashing.</summary>
public static class ZeroBlocks
{
    /// <summary>True when every byte is zero (SIMD scan that stops at the first non-zero vector).</summary>
    public static bool IsZero(ReadOnlySpan<byte> data) => !data.ContainsAnyExcept((byte)0);
}
