namespace Teleport.Transfer.Protocol;

/// <summary>One run of a Data frame: blocks [Start, Start + Count), either carried in the payload or all zero.</summary>
internal readonly record struct DataRun(long Start, int Count, bool Zero);
