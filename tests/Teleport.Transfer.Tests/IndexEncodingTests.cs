using System.Buffers.Binary;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The compact index entries of protocol version 2: varint zero runs and repeats.</summary>
public class IndexEncodingTests
{
    [Theory]
    [InlineData(0UL, 1)]
    [InlineData(127UL, 1)]
    [InlineData(128UL, 2)]
    [InlineData(300UL, 2)]
    [InlineData(ulong.MaxValue, 10)]
    public void Varints_round_trip(ulong value, int length)
    {
        byte[] buffer = new byte[Varint.MaxLength];
        Assert.Equal(length, Varint.Write(buffer, value));
        Assert.True(Varint.TryRead(buffer.AsSpan(0, length), out ulong back, out int read));
        Assert.Equal((value, length), (back, read));
    }

    [Fact]
    public void Truncated_overlong_and_overflowing_varints_are_refused()
    {
        Assert.False(Varint.TryRead([0x80], out _, out _));                   // truncated
        Assert.False(Varint.TryRead([0x80, 0x00], out _, out _));             // not minimal
        Assert.False(Varint.TryRead([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], out _, out _)); // > 64 bits
        Assert.False(Varint.TryRead(Enumerable.Repeat((byte)0x80, 11).ToArray(), out _, out _));
    }

    private static byte[] Batch(long first, params byte[][] entries)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)first);
        return [.. bytes, .. entries.SelectMany(e => e)];
    }

    private static byte[] FingerprintEntry(byte seed)
    {
        byte[] block = new byte[4096];
        block[0] = seed;
        byte[] entry = new byte[1 + FingerprintPrefix.Size];
        entry[0] = ProtocolConstants.EntryFingerprint;
        FingerprintPrefix.Of(Fingerprint.Compute(block)).WriteTo(entry.AsSpan(1));
        return entry;
    }

    private static byte[] Tagged(byte tag, ulong value)
    {
        byte[] entry = new byte[1 + Varint.MaxLength];
        entry[0] = tag;
        int n = Varint.Write(entry.AsSpan(1), value);
        return entry[..(1 + n)];
    }

    private static List<IndexBatchEntry> Read(byte[] payload, long blocks, long expectedFirst = 0)
    {
        var geometry = new VolumeGeometry(blocks * 4096, 4096);
        var reader = new IndexBatchReader(payload, geometry, expectedFirst);
        var list = new List<IndexBatchEntry>();
        while (reader.TryRead(out var entry))
            list.Add(entry);
        return list;
    }

    [Fact]
    public void A_batch_with_fingerprints_zero_runs_and_repeats_reads_back()
    {
        var entries = Read(Batch(0, FingerprintEntry(1), Tagged(ProtocolConstants.EntryZeroRun, 300), FingerprintEntry(2),
            Tagged(ProtocolConstants.EntryRepeat, 2)), 1000);
        Assert.Equal(4, entries.Count);
        Assert.Equal((0L, 1L, false, 0L), (entries[0].Block, entries[0].Count, entries[0].Zero, entries[0].Repeat));
        Assert.Equal((1L, 300L, true), (entries[1].Block, entries[1].Count, entries[1].Zero));
        Assert.Equal(301, entries[2].Block);
        Assert.Equal((302L, 1L, 2L), (entries[3].Block, entries[3].Count, entries[3].Repeat));
    }

    [Fact]
    public void Malformed_entries_are_refused()
    {
        TransferErrorCode Code(byte[] payload, long blocks = 1000) =>
            Assert.Throws<TransferException>(() => Read(payload, blocks)).Code;

        Assert.Equal(TransferErrorCode.BadFrame, Code(Batch(0, Tagged(ProtocolConstants.EntryZeroRun, 0))));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Batch(0, FingerprintEntry(1), Tagged(ProtocolConstants.EntryRepeat, 0))));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Batch(0, [ProtocolConstants.EntryZeroRun, 0x80])));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Batch(0, [ProtocolConstants.EntryZeroRun, 0x81, 0x00])));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Batch(0, [7])));
        Assert.Equal(TransferErrorCode.OutOfRange, Code(Batch(0, Tagged(ProtocolConstants.EntryZeroRun, 1001))));
        Assert.Equal(TransferErrorCode.OutOfRange, Code(Batch(0, Tagged(ProtocolConstants.EntryZeroRun, ulong.MaxValue))));
        Assert.Equal(TransferErrorCode.OutOfRange, Code(Batch(5, FingerprintEntry(1))));
    }
}
