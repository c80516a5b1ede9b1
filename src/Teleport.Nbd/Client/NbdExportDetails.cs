using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>What the server said about the chosen export.</summary>
public sealed record NbdExportDetails(string Name, long Size, NbdTransmissionFlags Flags, int MinimumBlockSize, int PreferredBlockSize, int MaximumPayload)
{
    public bool IsReadOnly => (Flags & NbdTransmissionFlags.ReadOnly) != 0;

    public bool Has(NbdTransmissionFlags flag) => (Flags & flag) == flag;
}
