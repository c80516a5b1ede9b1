using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>A Data frame sent but not yet acknowledged: what to send again if the connection drops.</summary>
internal readonly record struct InFlightBatch(long Seq, DataRun[] Runs, long Bytes);
