namespace Teleport.Nbd.Protocol;

/// <summary>
/// Handshake flags. The server sends them after IHAVEOPT (16 bits) and the client answers with the ones it uses
/// (32 bits): the spec gives both sets the same bits, NBD_FLAG_FIXED_NEWSTYLE and NBD_FLAG_NO_ZEROES on the server's
/// side, NBD_FLAG_C_FIXED_NEWSTYLE and NBD_FLAG_C_NO_ZEROES on the client's.
/// </summary>
[Flags]
public enum NbdHandshakeFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}
