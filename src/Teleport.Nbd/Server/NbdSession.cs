using Teleport.Nbd.Exports;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>What one connection negotiated: the export, the flags it was sent, structured replies or not.</summary>
internal sealed record NbdSession(INbdExport Export, NbdTransmissionFlags Flags, bool StructuredReplies);
