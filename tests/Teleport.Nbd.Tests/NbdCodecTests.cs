using System.Buffers;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Tests;

public sealed class NbdCodecTests
{
    [Fact]
    public void Request_RoundTrips_AcrossSegmentBoundaries()
    {
        var request = new NbdRequest(NbdCommandFlags.Fua, NbdCommand.Write, 0x0102030405060708, 0x1122334455667788, 0xdeadbeef);
        byte[] bytes = new byte[NbdMagic.RequestHeaderLength];
        NbdRequestCodec.Write(bytes, request);

        var split = TwoSegments(bytes, 13);
        Assert.True(NbdRequestCodec.TryParse(split, out var parsed));
        Assert.Equal(request, parsed);
    }

    [Fact]
    public void Request_WithBadMagic_IsRejected()
    {
        byte[] bytes = new byte[NbdMagic.RequestHeaderLength];
        NbdRequestCodec.Write(bytes, new NbdRequest(NbdCommandFlags.None, NbdCommand.Read, 1, 2, 3));
        bytes[3] ^= 1;
        Assert.False(NbdRequestCodec.TryParse(bytes, out _));
        Assert.False(NbdRequestCodec.TryParse(bytes.AsSpan(0, 27), out _));
    }

    [Fact]
    public void Replies_Parse_SimpleAndStructured_AndWaitForMoreBytes()
    {
        byte[] simple = new byte[16];
        NbdReplyCodec.WriteSimple(simple, NbdError.NoSpace, 42);
        Assert.False(NbdReplyCodec.TryParse(new ReadOnlySequence<byte>(simple, 0, 15), out _, out _));
        Assert.True(NbdReplyCodec.TryParse(TwoSegments(simple, 5), out var header, out int length));
        Assert.Equal((false, NbdError.NoSpace, 42ul, 16, true), (header.IsStructured, header.Error, header.Cookie, length, header.IsFinal));

        byte[] chunk = new byte[20];
        NbdReplyCodec.WriteStructured(chunk, NbdReplyFlags.None, NbdReplyType.OffsetData, 7, 1000);
        Assert.False(NbdReplyCodec.TryParse(new ReadOnlySequence<byte>(chunk, 0, 19), out _, out _));
        Assert.True(NbdReplyCodec.TryParse(new ReadOnlySequence<byte>(chunk), out header, out length));
        Assert.Equal((true, NbdReplyType.OffsetData, 7ul, 1000u, 20, false), (header.IsStructured, header.Type, header.Cookie, header.Length, length, header.IsFinal));

        chunk[0] = 0;
        Assert.Throws<NbdProtocolException>(() => NbdReplyCodec.TryParse(new ReadOnlySequence<byte>(chunk), out _, out _));
    }

    [Fact]
    public void InfoRequest_RoundTrips_AndMalformedOnesAreRefused()
    {
        byte[] data = NbdOptionCodec.BuildInfoRequest("vol-ü", [NbdInfoType.BlockSize, NbdInfoType.Name]);
        Assert.True(NbdOptionCodec.TryParseInfoRequest(data, out string name, out var requests));
        Assert.Equal("vol-ü", name);
        Assert.Equal([NbdInfoType.BlockSize, NbdInfoType.Name], requests);

        Assert.False(NbdOptionCodec.TryParseInfoRequest(data.AsSpan(0, data.Length - 1), out _, out _));
        Assert.False(NbdOptionCodec.TryParseInfoRequest([0xff, 0xff, 0xff, 0xff, 0, 0], out _, out _));
        Assert.False(NbdOptionCodec.TryParseInfoRequest([0, 0, 0], out _, out _));
    }

    private static ReadOnlySequence<byte> TwoSegments(byte[] bytes, int split)
    {
        var first = new Segment(bytes.AsMemory(0, split), 0);
        var last = first.Append(bytes.AsMemory(split));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
