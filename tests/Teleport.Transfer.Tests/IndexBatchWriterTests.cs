using System.Buffers.Binary;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The source's IndexBatch writer produces exactly what the destination's reader reads.</summary>
public class IndexBatchWriterTests
{
    private static Fingerprint Print(int seed)
    {
        byte[] block = new byte[64];
        BinaryPrimitives.WriteInt32LittleEndian(block, seed);
        return Fingerprint.Compute(block);
    }

    /// <summary>One entry as a test writes it: a fingerprint, a zero run of Count blocks, or a repeat Distance back.</summary>
    private readonly record struct Op(Fingerprint? Print = null, long ZeroRun = 0, long Repeat = 0);

    public static TheoryData<string> Batches => new(Cases.Keys);

    private static readonly Dictionary<string, (long First, Op[] Ops)> Cases = new()
    {
        ["one fingerprint"] = (0, [new(Print(1))]),
        ["one zero block"] = (7, [new(ZeroRun: 1)]),
        ["mixed"] = (3, [new(Print(1)), new(ZeroRun: 300), new(Print(2)), new(Repeat: 2), new(Repeat: 1), new(ZeroRun: 127), new(Print(3))]),
        ["varint edges"] = (0, [new(ZeroRun: 127), new(Print(4)), new(ZeroRun: 128), new(Repeat: 1), new(ZeroRun: 16383), new(ZeroRun: 16384)]),
        ["long repeat distance"] = (1000, [new(Print(5)), new(Repeat: 1_000_000), new(Repeat: long.MaxValue)]),
        ["zero run beyond a u32"] = (0, [new(Print(6)), new(ZeroRun: uint.MaxValue + 5L), new(Print(7))]),
        ["full batch"] = (42, Enumerable.Range(0, 2000).Select(i => i % 3 == 0 ? new Op(Print(i)) : i % 3 == 1 ? new Op(ZeroRun: i) : new Op(Repeat: i)).ToArray()),
    };

    private static readonly VolumeGeometry Huge = new(1L << 50, 4096);

    private static (byte[] Buffer, int Length) Write(long first, Op[] ops)
    {
        var writer = new IndexBatchWriter();
        writer.Begin(new byte[IndexBatchWriter.BufferSize * 2], first);
        Assert.False(writer.HasEntries);
        foreach (var op in ops)
        {
            if (op.Print is { } print)
                writer.Fingerprint(print);
            else if (op.ZeroRun > 0)
                writer.ZeroRun(op.ZeroRun);
            else
                writer.Repeat(op.Repeat);
        }

        Assert.True(writer.HasEntries);
        return (writer.Buffer, writer.Length);
    }

    [Theory]
    [MemberData(nameof(Batches))]
    public void Reads_back_every_entry_and_consumes_the_payload_exactly(string batch)
    {
        var (first, ops) = Cases[batch];
        var (buffer, length) = Write(first, ops);
        var reader = new IndexBatchReader(buffer.AsSpan(0, length), Huge, first);
        long block = first;
        foreach (var op in ops)
        {
            // A zero run longer than a u32 arrives as several entries.
            for (long left = Math.Max(op.ZeroRun, 1); left > 0;)
            {
                Assert.True(reader.TryRead(out var entry));
                Assert.Equal(block, entry.Block);
                Assert.Equal(op.ZeroRun > 0, entry.Zero);
                Assert.Equal(op.Repeat, entry.Repeat);
                if (op.Print is { } print)
                    Assert.Equal(FingerprintPrefix.Of(print), entry.Prefix);
                block += entry.Count;
                left -= entry.Count;
                Assert.True(left >= 0);
            }
        }

        // Nothing left over: the reader stops exactly at the end of what was written.
        Assert.False(reader.TryRead(out _));
        Assert.Equal(block, reader.Next);
    }

    [Fact]
    public void Writes_the_documented_bytes()
    {
        var print = Print(9);
        var (buffer, length) = Write(5, [new(print), new(ZeroRun: 300), new(Repeat: 1)]);
        byte[] expected = [5, 0, 0, 0, 0, 0, 0, 0, ProtocolConstants.EntryFingerprint, .. new byte[FingerprintPrefix.Size],
            ProtocolConstants.EntryZeroRun, 0xAC, 0x02, ProtocolConstants.EntryRepeat, 1];
        // Only the fingerprint's first 16 bytes cross the wire.
        Convert.FromHexString(print.ToString()[..(2 * FingerprintPrefix.Size)]).CopyTo(expected.AsSpan(9));
        Assert.Equal(expected, buffer.AsSpan(0, length).ToArray());
    }

    [Fact]
    public void Is_full_at_the_target_size_and_reused_batch_after_batch()
    {
        var writer = new IndexBatchWriter();
        writer.Begin(new byte[IndexBatchWriter.BufferSize], 0);
        int entries = 0;
        while (!writer.IsFull)
        {
            writer.Fingerprint(Print(entries++));
            Assert.InRange(writer.Length, 0, IndexBatchWriter.BufferSize);
        }

        Assert.Equal((int)Math.Ceiling((ProtocolConstants.IndexBatchTarget - 8) / (1.0 + FingerprintPrefix.Size)), entries);
        byte[] next = new byte[IndexBatchWriter.BufferSize];
        writer.Begin(next, entries);
        Assert.Same(next, writer.Buffer);
        Assert.False(writer.HasEntries);
        Assert.Throws<ArgumentException>(() => writer.Begin(new byte[100], 0));
    }
}
