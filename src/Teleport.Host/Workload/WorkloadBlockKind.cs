namespace Teleport.Host.Workload;

public enum WorkloadBlockKind
{
    /// <summary>All zeroes: never written.</summary>
    Empty,

    /// <summary>A record with the right checksum, sequence (= block index) and run.</summary>
    Valid,

    /// <summary>Anything else: a damaged record, one at the wrong place or from another run, or foreign data.</summary>
    Corrupt,
}
