using System.Buffers.Binary;

namespace Teleport.Nbd.Protocol;

/// <summary>Framing of option requests and option replies (handshake phase; not a hot path).</summary>
public static class NbdOptionCodec
{
    /// <summary>Builds an option request: IHAVEOPT, option, length, data.</summary>
    public static byte[] BuildRequest(NbdOption option, ReadOnlySpan<byte> data)
    {
        byte[] bytes = new byte[NbdMagic.OptionHeaderLength + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, NbdMagic.OptionRequest);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), (uint)data.Length);
        data.CopyTo(bytes.AsSpan(NbdMagic.OptionHeaderLength));
        return bytes;
    }

    /// <summary>Builds an option reply: magic, option, reply type, length, data.</summary>
    public static byte[] BuildReply(NbdOption option, NbdOptionReplyType type, ReadOnlySpan<byte> data)
    {
        byte[] bytes = new byte[NbdMagic.OptionReplyHeaderLength + data.Length];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(12), (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), (uint)data.Length);
        data.CopyTo(bytes.AsSpan(NbdMagic.OptionReplyHeaderLength));
        return bytes;
    }

    /// <summary>Builds the data of NBD_OPT_INFO / NBD_OPT_GO: name and the info items asked for.</summary>
    public static byte[] BuildInfoRequest(string exportName, ReadOnlySpan<NbdInfoType> requests)
    {
        int nameLength = System.Text.Encoding.UTF8.GetByteCount(exportName);
        byte[] bytes = new byte[4 + nameLength + 2 + 2 * requests.Length];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)nameLength);
        System.Text.Encoding.UTF8.GetBytes(exportName, bytes.AsSpan(4));
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4 + nameLength), (ushort)requests.Length);
        for (int i = 0; i < requests.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6 + nameLength + 2 * i), (ushort)requests[i]);
        }

        return bytes;
    }

    /// <summary>Parses the data of NBD_OPT_INFO / NBD_OPT_GO; false when it is malformed.</summary>
    public static bool TryParseInfoRequest(ReadOnlySpan<byte> data, out string exportName, out NbdInfoType[] requests)
    {
        exportName = string.Empty;
        requests = [];
        if (data.Length < 6)
        {
            return false;
        }

        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > (uint)(data.Length - 6))
        {
            return false;
        }

        int count = BinaryPrimitives.ReadUInt16BigEndian(data[(4 + (int)nameLength)..]);
        if (6 + (int)nameLength + 2 * count != data.Length)
        {
            return false;
        }

        exportName = System.Text.Encoding.UTF8.GetString(data.Slice(4, (int)nameLength));
        requests = new NbdInfoType[count];
        for (int i = 0; i < count; i++)
        {
            requests[i] = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data[(6 + (int)nameLength + 2 * i)..]);
        }

        return true;
    }
}
