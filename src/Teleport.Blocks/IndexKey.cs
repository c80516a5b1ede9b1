namespace Teleport.Blocks;

/// <summary>The 128-bit key the index stores for a fingerprint (its first 16 bytes by default).</summary>
internal readonly record struct IndexKey(ulong High, ulong Low)
{
    public static IndexKey Of(in Fingerprint fingerprint) => new(fingerprint.Prefix64, fingerprint.Second64);
}
