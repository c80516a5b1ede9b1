using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Teleport.Host.Relay;

/// <summary>
/// The first bytes of a relay connection (after TLS when configured): a fixed-size hello from the source (magic, open or
/// resume, the channel's session token, the bytes it received so far) and a fixed-size answer from the destination
/// (status, token, the bytes it received). Fixed sizes: nothing is allocated on a length an unauthenticated peer chose.
/// </summary>
internal readonly record struct RelayHello(byte Kind, UInt128 Token, long Received)
{
    public const int Size = 33;
    public const int ReplySize = 25;
    public const byte Open = 1;
    public const byte Resume = 2;

    public const byte Accepted = 0;
    public const byte BadHello = 1;
    public const byte UnknownSession = 2;
    public const byte QemuUnavailable = 3;

    /// <summary>A resume of a channel that ended delivered both ways: only the last ack missed the source.</summary>
    public const byte Finished = 4;

    private static ReadOnlySpan<byte> Magic => "TPMRLY01"u8;

    public static UInt128 NewToken()
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        return BinaryPrimitives.ReadUInt128LittleEndian(random);
    }

    public byte[] Encode()
    {
        byte[] bytes = new byte[Size];
        Magic.CopyTo(bytes);
        bytes[8] = Kind;
        BinaryPrimitives.WriteUInt128LittleEndian(bytes.AsSpan(9), Token);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(25), Received);
        return bytes;
    }

    /// <summary>Null when the bytes are no hello of this protocol.</summary>
    public static RelayHello? Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size || !bytes[..8].SequenceEqual(Magic) || bytes[8] is not (Open or Resume))
            return null;
        long received = BinaryPrimitives.ReadInt64LittleEndian(bytes[25..]);
        return received < 0 ? null : new RelayHello(bytes[8], BinaryPrimitives.ReadUInt128LittleEndian(bytes[9..]), received);
    }

    public static byte[] Reply(byte status, UInt128 token, long received)
    {
        byte[] bytes = new byte[ReplySize];
        bytes[0] = status;
        BinaryPrimitives.WriteUInt128LittleEndian(bytes.AsSpan(1), token);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(17), received);
        return bytes;
    }

    public static (byte Status, UInt128 Token, long Received) DecodeReply(ReadOnlySpan<byte> bytes) =>
        (bytes[0], BinaryPrimitives.ReadUInt128LittleEndian(bytes[1..]), BinaryPrimitives.ReadInt64LittleEndian(bytes[17..]));

    public static string Describe(byte status) => status switch
    {
        Accepted => "accepted",
        BadHello => "not a relay hello",
        UnknownSession => "unknown session token",
        QemuUnavailable => "the incoming QEMU is not listening",
        Finished => "the channel was delivered both ways and has ended",
        _ => $"status {status}",
    };
}
