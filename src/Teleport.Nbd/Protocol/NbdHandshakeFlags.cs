namespace Teleport.Nbd.Protocol;

/// <summary>Handshake flags the server sends after IHAVEOPT.</summary>
[Flags]
public enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}
