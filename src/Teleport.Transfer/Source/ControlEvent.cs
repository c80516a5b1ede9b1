using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// What the source's reader hands to its sender: more blocks were requested, the end of a request list, or the
/// destination's Complete.
/// </summary>
internal readonly record struct ControlEvent(RequestEndMessage? RequestEnd, byte[]? CompleteDigest, bool Requested = false)
{
    public static ControlEvent MoreRequested { get; } = new(null, null, Requested: true);
}
