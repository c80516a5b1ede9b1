using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>What the source's reader hands to its sender: the end of a request list, or the destination's Complete.</summary>
internal readonly record struct ControlEvent(RequestEndMessage? RequestEnd, byte[]? CompleteDigest);
