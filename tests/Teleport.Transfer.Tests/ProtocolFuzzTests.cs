using CsCheck;
using Teleport.Transfer.Buddies;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Property-based fuzzing of the data channel's receive side with a real migration as seeds: the frame reader and
/// every message parser end random and mutated input in a <see cref="TransferException"/> or a frame, never another
/// exception type, a hang or an allocation past the limits.
/// </summary>
public sealed class ProtocolFuzzTests(TransferSessionSeeds seeds) : IClassFixture<TransferSessionSeeds>
{
    [Fact]
    public void Seeds_are_a_real_migration()
    {
        var types = seeds.Frames.Select(f => f.Type).ToHashSet();
        foreach (var type in new[] { MessageType.Hello, MessageType.Challenge, MessageType.Resume, MessageType.IndexBatch, MessageType.Data, MessageType.Complete })
            Assert.Contains(type, types);
    }

    [Fact]
    public void A_strangers_stream_fails_cleanly_and_allocates_little()
    {
        Fuzz.Inputs(seeds.Streams, maxRandomLength: 64 * 1024).Sample(input =>
        {
            long allocated = Fuzz.AllocatedBy(() => ReadAll(input, authenticated: false));
            Assert.True(allocated < 128 * 1024, $"{allocated} bytes allocated reading {input.Length} bytes from a stranger");
        }, iter: 500, threads: 1);
    }

    [Fact]
    public void An_authenticated_stream_reads_as_frames_then_fails_cleanly_and_allocates_at_most_a_frame()
    {
        Fuzz.Inputs(seeds.Streams, maxRandomLength: 64 * 1024).Sample(input =>
        {
            long allocated = Fuzz.AllocatedBy(() => ReadAll(input, authenticated: true));
            long limit = 2L * (ProtocolConstants.HeaderSize + ProtocolConstants.MaxPayload) + 64 * 1024;
            Assert.True(allocated < limit, $"{allocated} bytes allocated reading {input.Length} bytes");
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void Every_message_parser_accepts_or_refuses_mutated_payloads()
    {
        byte[][] payloads = seeds.Frames.Select(f => f.Payload).Where(p => p.Length > 0).ToArray();
        var gen = Gen.Select(Fuzz.Inputs(payloads, maxRandomLength: 2048), Gen.Byte, Gen.Long[0, seeds.Geometry.BlockCount]);
        gen.Sample((payload, flags, first) =>
        {
            foreach (var type in Enum.GetValues<MessageType>())
                ParseAs(type, payload, flags, first);
        }, iter: 3000);
    }

    [Fact]
    public void Compressed_data_that_was_tampered_with_is_a_bad_frame()
    {
        var data = seeds.Frames.Where(f => f.Type == MessageType.Data && (f.Flags & ProtocolConstants.FlagCompressed) != 0).ToArray();
        Assert.NotEmpty(data);
        Gen.Select(Gen.Int[0, data.Length - 1], Gen.UInt.Array[1, 4]).Sample((i, edits) =>
        {
            // Each frame continues the connection's zstd stream: replay the frames before it, then the tampered one.
            using var decoder = new StreamDecompressor();
            for (int k = 0; k <= i; k++)
            {
                byte[] payload = k == i ? Fuzz.Mutate(data[k].Payload, edits) : data[k].Payload;
                Refused(() =>
                {
                    var runs = new List<DataRun>();
                    var body = DataMessage.Parse(payload, data[k].Flags, seeds.Geometry, runs, out _, out int rawLength);
                    decoder.Decompress(body, new byte[rawLength]);
                });
            }
        }, iter: 300);
    }

    private void ParseAs(MessageType type, byte[] payload, byte flags, long first) => Refused(() =>
    {
        switch (type)
        {
            case MessageType.Hello: HelloMessage.Parse(payload); break;
            case MessageType.Challenge: ChallengeMessage.Parse(payload); break;
            case MessageType.SourceProof or MessageType.DestinationProof: ProofMessage.Parse(payload, type); break;
            case MessageType.Error: _ = ErrorMessage.Parse(payload); break;
            case MessageType.Resume: ResumeMessage.Parse(payload); break;
            case MessageType.IndexBatch:
                var entries = new IndexBatchReader(payload, seeds.Geometry, first);
                while (entries.TryRead(out _))
                {
                }

                break;
            case MessageType.IndexEnd: IndexEndMessage.Parse(payload); break;
            case MessageType.Request or MessageType.UrgentRequest or MessageType.Fence: RequestMessage.Parse(payload, seeds.Geometry, [], type); break;
            case MessageType.RequestEnd: RequestEndMessage.Parse(payload); break;
            case MessageType.Data: DataMessage.Parse(payload, flags, seeds.Geometry, [], out _, out _); break;
            case MessageType.Ack: AckMessage.Parse(payload); break;
            case MessageType.RoundEnd: RoundEndMessage.Parse(payload); break;
            case MessageType.FinalEnd: FinalEndMessage.Parse(payload); break;
            case MessageType.Complete: CompleteMessage.Parse(payload); break;
            case MessageType.Goodbye: GoodbyeMessage.Parse(payload); break;
            case MessageType.FenceEnd: FenceEndMessage.Parse(payload); break;
            case MessageType.BuddyHello: BuddyMessages.ParseHello(payload); break;
            case MessageType.BuddyLookup: BuddyMessages.ParseLookup(payload, 256, new Teleport.Blocks.FingerprintPrefix[256]); break;
            case MessageType.BuddyBlocks: BuddyMessages.ParseBlocks(payload, 1 + (flags % 8), 512, out _); break;
            default: throw new InvalidOperationException($"no parser for {type}");
        }
    });

    /// <summary>Reads frames until the input ends or is refused; all of it synchronously (a MemoryStream), so a hang cannot hide.</summary>
    private static void ReadAll(byte[] input, bool authenticated)
    {
        var reader = new FrameReader(new MemoryStream(input));
        if (authenticated)
            reader.Authenticated();
        while (true)
        {
            var next = reader.ReadAsync(default);
            Assert.True(next.IsCompleted, "the reader waited on a finished stream");
            try
            {
                _ = next.Result;
            }
            catch (TransferException)
            {
                return;
            }
        }
    }

    /// <summary>Runs a parse: a result or a <see cref="TransferException"/> are fine; any other exception fails the case.</summary>
    private static void Refused(Action parse)
    {
        try
        {
            parse();
        }
        catch (TransferException)
        {
        }
    }
}
