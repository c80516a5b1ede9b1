namespace Teleport.Nbd.Protocol;

/// <summary>Client flags answering the server's handshake flags.</summary>
[Flags]
public enum NbdClientFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}
