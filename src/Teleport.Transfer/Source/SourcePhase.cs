namespace Teleport.Transfer.Source;

/// <summary>The source's position in the four phases (kept across reconnects).</summary>
internal enum SourcePhase
{
    Index,
    AwaitRequests,
    Copy,
    Final,
    Done,
}
