namespace Teleport.Benchmarks;

/// <summary>One measured transfer of the WAN benchmark (a row of its TSV file).</summary>
public sealed record WanResult(string Pair, string Method, long BytesSourceToDestination, long BytesDestinationToSource, double Seconds, long ImageBytes)
{
    public long BytesOnWire => BytesSourceToDestination + BytesDestinationToSource;
}
