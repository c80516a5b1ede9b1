namespace Teleport.Transfer.Protocol;

/// <summary>The destination's durable progress, as sent in Resume and kept in its state file.</summary>
internal enum DestinationPhase : byte
{
    /// <summary>Receiving the index stream.</summary>
    Index = 0,
    /// <summary>Index complete; receiving blocks.</summary>
    Copy = 1,
    /// <summary>Final round received and verified.</summary>
    Completed = 2,
}
