namespace Teleport.Nbd.Protocol;

/// <summary>One transmission request header as read from the wire.</summary>
public readonly record struct NbdRequest(NbdCommandFlags Flags, NbdCommand Command, ulong Cookie, ulong Offset, uint Length);
