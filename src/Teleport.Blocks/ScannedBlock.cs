namespace Teleport.Blocks;

/// <summary>One block of an image as <see cref="ImageScanner"/> saw it. Zero blocks carry the fingerprint of an
/// all-zero block (computed once per scanner, not per block).</summary>
public readonly record struct ScannedBlock(long Number, bool IsZero, Fingerprint Fingerprint);
