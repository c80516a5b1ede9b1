namespace Teleport.Host.Workload;

/// <summary>
/// What <see cref="WorkloadVerifier"/> found. Records are written in order from 0, so every block below the
/// highest valid record must be valid: an empty one there is a gap (a lost write), anything else is corrupt.
/// At most <see cref="WorkloadVerifier.MaxListed"/> block numbers are listed per kind; the counts are exact.
/// </summary>
public sealed record WorkloadReport(
    long HighestSequence,
    long ValidRecords,
    long GapCount,
    long CorruptCount,
    IReadOnlyList<long> Gaps,
    IReadOnlyList<long> Corrupt)
{
    /// <summary>Records 0..HighestSequence are all present and intact, nothing is damaged.</summary>
    public bool IsIntact => GapCount == 0 && CorruptCount == 0;

    public override string ToString() =>
        $"highest record {HighestSequence}, {ValidRecords} valid, {GapCount} missing{List(Gaps)}, {CorruptCount} corrupt{List(Corrupt)}";

    private static string List(IReadOnlyList<long> blocks) => blocks.Count == 0 ? "" : $" ({string.Join(", ", blocks.Take(10))}{(blocks.Count > 10 ? ", ..." : "")})";
}
