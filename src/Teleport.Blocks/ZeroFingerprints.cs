namespace Teleport.Blocks;

/// <summary>Fingerprints of all-zero blocks, one per block size, computed once.</summary>
public static class ZeroFingerprints
{
    private static readonly Fingerprint[] Cache = new Fingerprint[17];
    private static readonly bool[] Known = new bool[17];

    /// <summary>SHA-256 of <paramref name="blockSize"/> zero bytes.</summary>
    public static Fingerprint For(int blockSize)
    {
        BlockSizes.Validate(blockSize);
        int slot = System.Numerics.BitOperations.Log2((uint)blockSize);
        if (!Volatile.Read(ref Known[slot]))
        {
            Cache[slot] = Fingerprint.Compute(new byte[blockSize]);
            Volatile.Write(ref Known[slot], true);
        }
        return Cache[slot];
    }
}
