using System.Buffers.Binary;
using CsCheck;

namespace Teleport.Testing;

/// <summary>
/// Fuzzing inputs for the protocol parsers: real recorded bytes changed by a few random edits (so the input gets past
/// the first checks and into the deep parts), or plain random bytes. Edits are drawn as numbers, so CsCheck shrinks a
/// failing input to its fewest and smallest edits.
/// </summary>
public static class Fuzz
{
    private static readonly uint[] Interesting = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 4096, 0x110000];

    /// <summary>Inputs from <paramref name="seeds"/> with 1..8 edits each, one case in five plain random bytes.</summary>
    public static Gen<byte[]> Inputs(IReadOnlyList<byte[]> seeds, int maxRandomLength = 4096)
    {
        var mutated = Gen.Select(Gen.Int[0, seeds.Count - 1], Gen.UInt.Array[1, 8], (i, edits) => Mutate(seeds[i], edits));
        return Gen.Frequency((4, mutated), (1, Gen.Byte.Array[0, maxRandomLength]));
    }

    /// <summary>Applies <paramref name="edits"/> to a copy of <paramref name="seed"/>: each flips, sets, inserts, deletes, truncates, repeats or plants a boundary number.</summary>
    public static byte[] Mutate(byte[] seed, IEnumerable<uint> edits)
    {
        var bytes = new List<byte>(seed);
        foreach (uint edit in edits)
        {
            int at = (int)((edit >> 3) % (uint)(bytes.Count + 1));
            byte value = (byte)(edit >> 24);
            switch (edit & 7)
            {
                case 0 when at < bytes.Count:
                    bytes[at] ^= (byte)(1 << (value & 7));
                    break;
                case 1 when at < bytes.Count:
                    bytes[at] = value;
                    break;
                case 2:
                    bytes.Insert(at, value);
                    break;
                case 3:
                    bytes.RemoveRange(at, Math.Min(1 + (value & 15), bytes.Count - at));
                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 5:
                    int length = Math.Min(1 + value, bytes.Count - at);
                    bytes.InsertRange(at, bytes.GetRange(at, length));
                    break;
                default:
                    Plant(bytes, at, Interesting[value % Interesting.Length], littleEndian: (edit & 1) != 0);
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>Bytes allocated on this thread by <paramref name="action"/> (it must not leave the thread).</summary>
    public static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static void Plant(List<byte> bytes, int at, uint number, bool littleEndian)
    {
        Span<byte> four = stackalloc byte[4];
        if (littleEndian)
            BinaryPrimitives.WriteUInt32LittleEndian(four, number);
        else
            BinaryPrimitives.WriteUInt32BigEndian(four, number);
        for (int i = 0; i < 4 && at + i < bytes.Count; i++)
            bytes[at + i] = four[i];
    }
}
