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
        byte[] bytes = new byte[8 + payload.Length];
        new FrameHeader(payload.Length, type, 0).Write(bytes);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), reserved);
        payload.CopyTo(bytes, 8);
        return bytes;
    }

    /// <summary>A stream over bytes that counts what was read from it and can fail after a point.</summary>
    private sealed class CountingStream(byte[] data, long failAt = long.MaxValue) : MemoryStream(data)
    {
        public long Taken => Interlocked.Read(ref _taken);

        private long _taken;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAt)
                throw new IOException("connection reset by peer");
            int n = await base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, Math.Max(1, failAt - Position))], cancellationToken);
            Interlocked.Add(ref _taken, n);
            return n;
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1 << 20)]
    public async Task Reassembles_frames_delivered_in_small_pieces(int readAhead)
    {
        byte[] a = RandomNumberGenerator.GetBytes(100_000), b = RandomNumberGenerator.GetBytes(3);
        var reader = new FrameReader(new TricklingStream([.. Frame(MessageType.Data, a), .. Frame(MessageType.Ack, b)]));
        reader.Authenticated();
        var first = await reader.ReadAsync(CancellationToken.None);
        Assert.Equal(MessageType.Data, first.Type);
        Assert.True(first.Payload.Span.SequenceEqual(a));
        if (readAhead > 0)
            reader.StartReadAhead(readAhead);
        var second = await reader.ReadAsync(CancellationToken.None);
        Assert.True(second.Payload.Span.SequenceEqual(b));
        var end = await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(TransferErrorCode.ConnectionLost, end.Code);
        Assert.Equal(2 * 8 + a.Length + b.Length, reader.BytesRead);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1 << 20)]
    public async Task A_truncated_frame_is_reported_as_such(int readAhead)
    {
        byte[] bytes = Frame(MessageType.Data, new byte[50]);
        var reader = new FrameReader(new MemoryStream(bytes[..30]));
        if (readAhead > 0)
            reader.StartReadAhead(readAhead);
        var error = await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(CancellationToken.None));
        Assert.Equal(TransferErrorCode.ConnectionLost, error.Code);
        Assert.Contains("middle of a frame", error.Message);
    }

    [Fact]
    public async Task Read_ahead_drains_the_stream_while_the_caller_is_busy_up_to_its_limit()
    {
        const int readAhead = 4 << 20;
        byte[][] payloads = Enumerable.Range(0, 48).Select(_ => RandomNumberGenerator.GetBytes(256 * 1024)).ToArray();
        var stream = new CountingStream(payloads.SelectMany(p => Frame(MessageType.Data, p)).ToArray());
        var reader = new FrameReader(stream);
        reader.Authenticated();

        // On demand until told otherwise (the handshake): the stream is read only as far as frames are wanted.
        var first = await reader.ReadAsync(CancellationToken.None);
        Assert.True(first.Payload.Span.SequenceEqual(payloads[0]));
        await Task.Delay(100);
        Assert.True(stream.Taken < readAhead / 4, $"before read-ahead {stream.Taken} bytes were read");
        reader.StartReadAhead(readAhead);
        Assert.Throws<InvalidOperationException>(() => reader.StartReadAhead(readAhead));
        // The caller now "works" on the first frame: the pump keeps reading without it, up to the limit.
        for (int i = 0; i < 500 && stream.Taken < readAhead; i++)
            await Task.Delay(10);
        Assert.True(stream.Taken >= readAhead, $"the pump read {stream.Taken} bytes ahead, expected at least {readAhead}");
        await Task.Delay(200);
        Assert.True(stream.Taken < stream.Length, "the pump read everything: read-ahead must be bounded");

        for (int i = 1; i < payloads.Length; i++)
        {
            var frame = await reader.ReadAsync(CancellationToken.None);
            Assert.True(frame.Payload.Span.SequenceEqual(payloads[i]), $"frame {i} differs");
        }

        Assert.Equal(TransferErrorCode.ConnectionLost, (await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(default))).Code);
        await reader.CompleteAsync();
        await reader.DisposeAsync();
    }

    [Fact]
    public async Task A_failing_connection_under_read_ahead_is_a_lost_connection_after_the_frames_before_it()
    {
        byte[] a = RandomNumberGenerator.GetBytes(1000), b = RandomNumberGenerator.GetBytes(1000);
        byte[] bytes = [.. Frame(MessageType.Data, a), .. Frame(MessageType.Data, b)];
        var reader = new FrameReader(new CountingStream(bytes, failAt: bytes.Length - 10));
        reader.StartReadAhead(1 << 20);
        Assert.True((await reader.ReadAsync(default)).Payload.Span.SequenceEqual(a));
        var error = await Assert.ThrowsAsync<TransferException>(async () => await reader.ReadAsync(default));
        Assert.Equal(TransferErrorCode.ConnectionLost, error.Code);
        Assert.Contains("connection reset by peer", error.Message);
        await reader.CompleteAsync();
        await reader.DisposeAsync();
    }

    [Fact]
    public async Task Reserved_bits_and_oversized_lengths_are_refused()
    {
        var reserved = new FrameReader(new MemoryStream(Frame(MessageType.Ack, new byte[8], reserved: 1)));
        Assert.Equal(TransferErrorCode.BadFrame, (await Assert.ThrowsAsync<TransferException>(async () => await reserved.ReadAsync(default))).Code);
        byte[] header = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, ProtocolConstants.MaxPayload + 1);
        var oversized = new FrameReader(new MemoryStream(header));
        oversized.Authenticated();
        Assert.Equal(TransferErrorCode.Oversized, (await Assert.ThrowsAsync<TransferException>(async () => await oversized.ReadAsync(default))).Code);
    }

    [Fact]
    public async Task Before_authentication_a_frame_larger_than_a_handshake_is_refused_at_its_header_without_buffering_it()
    {
        // A maximum-size Hello header followed by a megabyte (of the 1.06 MiB announced): refused on the header.
        byte[] attack = new byte[ProtocolConstants.HeaderSize + (1 << 20)];
        BinaryPrimitives.WriteUInt32LittleEndian(attack, ProtocolConstants.MaxPayload);
        attack[4] = (byte)MessageType.Hello;
        var stream = new CountingStream(attack);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var stranger = new FrameReader(stream);
        var refused = await Assert.ThrowsAsync<TransferException>(async () => await stranger.ReadAsync(default));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(TransferErrorCode.Oversized, refused.Code);
        Assert.True(stream.Taken <= 8192, $"{stream.Taken} bytes were read from a stranger");
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes were allocated for a stranger's frame");

        // The same bytes from an authenticated peer are a frame in progress (cut short here).
        var peer = new FrameReader(new MemoryStream(attack));
        peer.Authenticated();
        Assert.Equal(TransferErrorCode.ConnectionLost, (await Assert.ThrowsAsync<TransferException>(async () => await peer.ReadAsync(default))).Code);
    }

    [Fact]
    public void Data_frames_are_validated_before_use()
    {
        var geometry = new VolumeGeometry(10 * 4096 + 100, 4096); // 11 blocks, the last 100 bytes
        var runs = new List<DataRun>();
        byte[] Build((long, int, bool)[] r, int raw, int body)
        {
            byte[] header = new byte[DataMessage.HeaderSize(r.Length)];
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
