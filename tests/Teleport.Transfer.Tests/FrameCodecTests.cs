using Teleport.Transfer.Buddies;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Every fixed-layout frame's codec: what it writes it reads back, and its parser consumes the payload exactly
/// (a byte short or a byte over is a BadFrame, as docs/protocol.md promises). Variable frames (IndexBatch, Request,
/// Data, Error) have their own tests in IndexEncodingTests and FramingTests.
/// </summary>
public class FrameCodecTests
{
    private static Teleport.Blocks.FingerprintPrefix Prefix(byte seed) => Teleport.Blocks.FingerprintPrefix.Read(Digest(seed));

    private static byte[] Digest(byte seed) => Enumerable.Range(0, ProtocolConstants.DigestSize).Select(i => (byte)(seed + i)).ToArray();

    public static TheoryData<string> Codecs => new(Cases.Keys);

    /// <summary>Each case: a message, its payload size and a parser that re-encodes what it read.</summary>
    private static readonly Dictionary<string, (Func<byte[]> Write, Func<byte[], byte[]> Reparse)> Cases = new()
    {
        ["Hello"] = Case(new HelloMessage(2, 2, Guid.NewGuid(), Guid.NewGuid(), Digest(1), 1 << 30, 4096), HelloMessage.Size,
            p => HelloMessage.Parse(p), (m, s) => m.Write(s)),
        ["Challenge"] = Case(new ChallengeMessage(2, Digest(2)), ChallengeMessage.Size, p => ChallengeMessage.Parse(p), (m, s) => m.Write(s)),
        ["SourceProof"] = Control(new ProofMessage(MessageType.SourceProof, Digest(3)), p => ProofMessage.Parse(p, MessageType.SourceProof)),
        ["DestinationProof"] = Control(new ProofMessage(MessageType.DestinationProof, Digest(4)), p => ProofMessage.Parse(p, MessageType.DestinationProof)),
        ["Resume"] = Control(new ResumeMessage(DestinationPhase.Copy, 77, 12, Digest(5)), p => ResumeMessage.Parse(p)),
        ["IndexEnd"] = Control(new IndexEndMessage(65536), p => IndexEndMessage.Parse(p)),
        ["RequestEnd"] = Control(new RequestEndMessage(1, 2, 3, 4), p => RequestEndMessage.Parse(p)),
        ["Ack"] = Control(new AckMessage(41), p => AckMessage.Parse(p)),
        ["RoundEnd"] = Control(new RoundEndMessage(3), p => RoundEndMessage.Parse(p)),
        ["FinalEnd"] = Control(new FinalEndMessage(99, Digest(6)), p => FinalEndMessage.Parse(p)),
        ["Complete"] = Control(new CompleteMessage(Digest(7)), p => CompleteMessage.Parse(p)),
        ["FenceEnd"] = Control(new FenceEndMessage(513), p => FenceEndMessage.Parse(p)),
        ["BuddyHello"] = Case(4096, BuddyMessages.HelloSize, p => BuddyMessages.ParseHello(p), (blockSize, s) =>
        {
            BuddyMessages.WriteHello(s, blockSize);
            return BuddyMessages.HelloSize;
        }),
        ["BuddyLookup"] = Case(new[] { Prefix(8), Prefix(9) }, BuddyMessages.LookupSize(2), p =>
        {
            var prefixes = new Teleport.Blocks.FingerprintPrefix[256];
            return prefixes[..BuddyMessages.ParseLookup(p, 256, prefixes)];
        }, (prefixes, s) => BuddyMessages.WriteLookup(s, prefixes)),
    };

    private static (Func<byte[]>, Func<byte[], byte[]>) Case<T>(T message, int size, Func<byte[], T> parse, Func<T, byte[], int> write) =>
        (() => Encode(message, size, write), p => Encode(parse(p), size, write));

    private static (Func<byte[]>, Func<byte[], byte[]>) Control<T>(T message, Func<byte[], T> parse) where T : struct, IControlMessage =>
        Case(message, IControlMessage.MaxSize, parse, (m, s) => m.Write(s));

    private static byte[] Encode<T>(T message, int size, Func<T, byte[], int> write)
    {
        byte[] buffer = new byte[size];
        int n = write(message, buffer);
        return buffer[..n];
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Reads_back_what_it_writes(string frame)
    {
        var (write, reparse) = Cases[frame];
        byte[] payload = write();
        Assert.Equal(payload, reparse(payload));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Rejects_a_payload_a_byte_short_or_a_byte_over(string frame)
    {
        var (write, reparse) = Cases[frame];
        byte[] payload = write();
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => reparse(payload[..^1])).Code);
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => reparse([.. payload, 0])).Code);
    }

    [Fact]
    public void Goodbye_has_no_payload()
    {
        Assert.Equal(0, new GoodbyeMessage().Write(new byte[IControlMessage.MaxSize]));
        GoodbyeMessage.Parse([]);
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => GoodbyeMessage.Parse([0])).Code);
    }

    [Fact]
    public void RoundEnd_refuses_round_zero()
    {
        Assert.Equal(TransferErrorCode.OutOfRange, Assert.Throws<TransferException>(() => RoundEndMessage.Parse(new byte[4])).Code);
    }

    [Fact]
    public void Every_control_message_fits_the_span_it_is_written_into()
    {
        Assert.All(new[] { ResumeMessage.Size, IndexEndMessage.Size, RequestEndMessage.Size, AckMessage.Size, RoundEndMessage.Size,
            FinalEndMessage.Size, CompleteMessage.Size, ProofMessage.Size, FenceEndMessage.Size }, size => Assert.InRange(size, 0, IControlMessage.MaxSize));
    }

    [Fact]
    public void Every_frame_type_has_a_codec_under_test()
    {
        // UrgentRequest and Fence share Request's run-list codec.
        var variable = new[]
        {
            MessageType.IndexBatch, MessageType.Request, MessageType.UrgentRequest, MessageType.Fence, MessageType.Data, MessageType.Error,
            MessageType.Goodbye, MessageType.BuddyBlocks, // BuddyBlocks: BuddyProtocolTests
        };
        var covered = Cases.Keys.Select(Enum.Parse<MessageType>).Concat(variable);
        Assert.Equal(Enum.GetValues<MessageType>().Order(), covered.Order());
    }

    [Fact]
    public void Request_reads_back_its_runs_and_consumes_the_payload_exactly()
    {
        var geometry = new VolumeGeometry(1024 * 4096L, 4096);
        byte[] payload = new byte[4 + 2 * RequestMessage.RunSize];
        Assert.Equal(payload.Length, RequestMessage.Write(payload, [new(0, 3), new(1000, 24)]));

        var runs = new List<Teleport.Blocks.BlockRun>();
        RequestMessage.Parse(payload, geometry, runs);
        Assert.Equal([new(0, 3), new(1000, 24)], runs);
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => RequestMessage.Parse(payload[..^1], geometry, runs)).Code);
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => RequestMessage.Parse([.. payload, 0], geometry, runs)).Code);
    }

    [Fact]
    public void Error_reads_back_its_code_and_text()
    {
        byte[] payload = new byte[2 + ErrorMessage.MaxText];
        int n = ErrorMessage.Write(payload, TransferErrorCode.VerificationFailed, "digests differ");
        var error = ErrorMessage.Parse(payload.AsSpan(0, n));
        Assert.Equal(TransferErrorCode.VerificationFailed, error.Code);
        Assert.Contains("digests differ", error.Message);
        Assert.Equal(TransferErrorCode.BadFrame, Assert.Throws<TransferException>(() => ErrorMessage.Parse([1])).Code);
    }
}
