using System.Buffers.Binary;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

public class FramingTests
{
    /// <summary>Hands out at most a few bytes per read, so frames span many pipe reads.</summary>
    private sealed class TricklingStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, 7)], cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 7));
    }

    private static byte[] Frame(MessageType type, byte[] payload, ushort reserved = 0)
    {
        var bytes = new byte[8 + payload.Length];
        new FrameHeader(payload.Length, type, 0).Write(bytes);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), reserved);
        payload.CopyTo(bytes, 8);
        return bytes;
    }

    [Fact]
    public async Task Reassembles_frames_delivered_in_small_pieces()
    {
        byte[] a = RandomNumberGenerator.GetBytes(100_000), b = RandomNumberGenerator.GetBytes(3);
        var reader = new FrameReader(new TricklingStream([.. Frame(MessageType.Data, a), .. Frame(MessageType.Ack, b)]));
        var first = await reader.ReadAsync(CancellationToken.None);
        Assert.Equal(MessageType.Data, first.Type);
        Assert.True(first.Payload.Span.SequenceEqual(a));
        var second = await reader.ReadAsync(CancellationToken.None);
        Assert.True(second.Payload.Span.SequenceEqual(b));
        var end = await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(TransferErrorCode.ConnectionLost, end.Code);
        Assert.Equal(2 * 8 + a.Length + b.Length, reader.BytesRead);
    }

    [Fact]
    public async Task A_truncated_frame_is_reported_as_such()
    {
        var bytes = Frame(MessageType.Data, new byte[50]);
        var reader = new FrameReader(new MemoryStream(bytes[..30]));
        var error = await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(TransferErrorCode.ConnectionLost, error.Code);
        Assert.Contains("middle of a frame", error.Message);
    }

    [Fact]
    public async Task Reserved_bits_and_oversized_lengths_are_refused()
    {
        var reserved = new FrameReader(new MemoryStream(Frame(MessageType.Ack, new byte[8], reserved: 1)));
        Assert.Equal(TransferErrorCode.BadFrame, (await Assert.ThrowsAsync<TransferException>(async () => await reserved.ReadAsync(default))).Code);
        var header = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, ProtocolConstants.MaxPayload + 1);
        var oversized = new FrameReader(new MemoryStream(header));
        Assert.Equal(TransferErrorCode.Oversized, (await Assert.ThrowsAsync<TransferException>(async () => await oversized.ReadAsync(default))).Code);
    }

    [Fact]
    public void Data_frames_are_validated_before_use()
    {
        var geometry = new VolumeGeometry(10 * 4096 + 100, 4096); // 11 blocks, the last 100 bytes
        var runs = new List<DataRun>();
        byte[] Build((long, int, bool)[] r, int raw, int body)
        {
            var header = new byte[DataMessage.HeaderSize(r.Length)];
            DataMessage.WriteHeader(header, 1, r.Select(x => new DataRun(x.Item1, x.Item2, x.Item3)).ToArray(), raw);
            return [.. header, .. new byte[body]];
        }

        TransferErrorCode Code(byte[] payload, byte flags = 0)
        {
            runs.Clear();
            return Assert.Throws<TransferException>(() => DataMessage.Parse(payload, flags, geometry, runs, out _, out _)).Code;
        }

        // The partial last block carries exactly its 100 bytes.
        runs.Clear();
        DataMessage.Parse(Build([(9, 2, false)], 4196, 4196), 0, geometry, runs, out _, out int raw);
        Assert.Equal(4196, raw);
        Assert.Equal(TransferErrorCode.OutOfRange, Code(Build([(10, 2, false)], 8192, 8192)));
        Assert.Equal(TransferErrorCode.OutOfRange, Code(Build([(3, 2, false), (4, 1, false)], 12288, 12288)));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Build([(0, 1, false)], 4096, 4000)));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Build([(0, 1, false)], 4000, 4000)));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Build([(0, 1, false)], 4096, 4096), flags: 0x80));
        Assert.Equal(TransferErrorCode.BadFrame, Code(Build([], 0, 0)));
        Assert.Equal(TransferErrorCode.BadFrame, Code(new byte[5]));
    }
}
