namespace Teleport.Transfer.Protocol;

/// <summary>Unsigned LEB128 (7 bits per byte, low first, high bit = more): compact counts in the index stream.</summary>
internal static class Varint
{
    public const int MaxLength = 10;

    public static int Write(Span<byte> destination, ulong value)
    {
        int n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[n++] = (byte)value;
        return n;
    }

    /// <summary>Decodes one value; anything longer than 10 bytes, overflowing 64 bits or not minimal is rejected.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int length)
    {
        value = 0;
        for (int i = 0; i < source.Length && i < MaxLength; i++)
        {
            byte b = source[i];
            if (i == MaxLength - 1 && b > 1)
                break; // more than 64 bits
            value |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                length = i + 1;
                // A trailing zero byte would make a second spelling of the same number.
                return i == 0 || b != 0;
            }
        }

        length = 0;
        return false;
    }
}
