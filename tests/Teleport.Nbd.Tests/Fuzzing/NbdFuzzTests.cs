using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;

namespace Teleport.Nbd.Tests.Fuzzing;

/// <summary>
/// Property-based fuzzing of the NBD server's parsers with real sessions as seeds: random and mutated input ends
/// in a refusal or a clean close, never an escaped exception, a hang or an allocation past the limits.
/// </summary>
public sealed class NbdFuzzTests(NbdSessionSeeds seeds) : IClassFixture<NbdSessionSeeds>
{
    private static readonly TimeSpan CaseLimit = TimeSpan.FromSeconds(20);

    [Fact]
    public void Seeds_are_real_sessions()
    {
        Assert.True(seeds.ClientBytes.Count >= 3);
        // Each starts with the client flags, then an option request ("IHAVEOPT").
        Assert.All(seeds.ClientBytes, b => Assert.Equal("IHAVEOPT"u8.ToArray(), b.AsSpan(4, 8).ToArray()));
    }

    [Fact]
    public async Task Mutated_sessions_against_the_server_end_in_a_refusal_or_a_clean_close()
    {
        await Fuzz.Inputs(seeds.ClientBytes).SampleAsync(async input =>
        {
            int errorsBefore = Failures();
            await ExchangeAsync(input).WaitAsync(CaseLimit);
            await WaitForIdleAsync();
            Assert.Equal(errorsBefore, Failures());
        }, iter: 300, threads: 1);
    }

    [Fact]
    public void The_handshake_on_mutated_options_returns_or_refuses_and_allocates_little()
    {
        Fuzz.Inputs(seeds.ClientBytes).Sample(input =>
        {
            var handshake = new NbdServerHandshake(seeds.Registry, new NbdServerOptions(), NullLogger.Instance, "fuzz");
            long allocated = Fuzz.AllocatedBy(() =>
            {
                var reader = PipeReader.Create(new MemoryStream(input), new StreamPipeReaderOptions(bufferSize: 4096));
                var run = handshake.RunAsync(reader, Stream.Null, CancellationToken.None);
                Assert.True(run.IsCompleted, "the handshake waited on a finished stream");
                _ = run.GetAwaiter().GetResult();
            });

            // One option payload (at most MaxOptionLength) and small replies, whatever the input claims.
            Assert.True(allocated < 256 * 1024, $"{allocated} bytes allocated for {input.Length} bytes of input");
        }, iter: 2000, threads: 1);
    }

    [Fact]
    public void Request_headers_parse_and_validate_without_exceptions()
    {
        var gen = Gen.Select(Gen.Byte.Array[NbdMagic.RequestHeaderLength], Gen.Long[0, 1L << 40], Gen.UShort, Gen.Bool);
        gen.Sample((header, size, advertised, magic) =>
        {
            if (magic)
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header, NbdMagic.Request);
            if (!NbdRequestCodec.TryParse(new ReadOnlySequence<byte>(header), out var request))
                return;
            var verdict = NbdRequestValidator.Validate(request, size, (NbdTransmissionFlags)advertised, 32 << 20);
            if (verdict.Disposition == NbdRequestDisposition.Execute && request.Command is NbdCommand.Read or NbdCommand.Write)
            {
                Assert.True(request.Offset + request.Length <= (ulong)size, "a request past the end was let through");
                Assert.True(request.Length <= 32 << 20, "a request over the payload limit was let through");
            }
        }, iter: 20000);
    }

    [Fact]
    public void Info_requests_parse_without_exceptions_and_allocate_in_proportion()
    {
        Gen.Byte.Array[0, 600].Sample(data =>
        {
            long allocated = Fuzz.AllocatedBy(() => NbdOptionCodec.TryParseInfoRequest(data, out _, out _));
            Assert.True(allocated <= 512 + 4L * data.Length, $"{allocated} bytes allocated for {data.Length} bytes");
        }, iter: 20000);
    }

    private int Failures() => seeds.Logs.Lines.Count(l => l.Contains("ended with an error", StringComparison.Ordinal));

    /// <summary>Sends the input, half-closes, and reads until the server closes.</summary>
    private async Task ExchangeAsync(byte[] input)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(seeds.EndPoint);
        var drain = DrainAsync(socket);
        try
        {
            await socket.SendAsync(input);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server hung up first: a refusal.
        }

        await drain;
    }

    private static async Task DrainAsync(Socket socket)
    {
        byte[] buffer = new byte[256 * 1024];
        try
        {
            while (await socket.ReceiveAsync(buffer) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset by the server: a close.
        }
    }

    /// <summary>The server has finished with the connection (its log lines are written) once it counts none.</summary>
    private async Task WaitForIdleAsync()
    {
        var until = DateTime.UtcNow + CaseLimit;
        while (seeds.Server.ConnectionCount > 0)
        {
            Assert.True(DateTime.UtcNow < until, "the server kept a closed connection");
            await Task.Delay(5);
        }
    }
}
