using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>A source resumed by a destination that is still in its index phase, driven by a scripted destination.</summary>
public class IndexResumeTests
{
    [Fact]
    public async Task A_source_resumed_in_the_index_phase_drops_the_requests_past_the_destinations_cursor()
    {
        // The first destination asked for blocks 20-29 and went away with their Data in flight; the next one resumes its
        // index at block 0 (a restarted process whose last checkpoint came before those requests). It never asked for
        // them, so Data for them before its index reaches them would be refused: the source must wait to be asked again.
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", 30), seed: 3));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var source = new SourceSession(m.Source((IPEndPoint)listener.LocalEndpoint), m.Tracker);
        var run = source.RunAsync(guard.Token);

        await using (var first = await ScriptedDestination.AcceptAsync(listener, m, guard.Token))
        {
            await first.ReadUntilAsync(MessageType.IndexEnd);
            await RunFrames.SendAsync(first.Connection, MessageType.Request, [new BlockRun(20, 10)], guard.Token);
            await first.ReadUntilAsync(MessageType.Data); // the source took the request: its blocks are in flight
        }

        await using (var second = await ScriptedDestination.AcceptAsync(listener, m, guard.Token))
        {
            var seen = await second.ReadUntilAsync(MessageType.IndexEnd);
            await second.Connection.SendAsync(new RequestEndMessage(0, 0, 0, 0), guard.Token);
            seen.AddRange(await second.ReadUntilAsync(MessageType.FinalEnd));
            Assert.Contains(MessageType.IndexBatch, seen);
            Assert.DoesNotContain(MessageType.Data, seen);
        }

        await guard.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => run);
        listener.Stop();
    }

    /// <summary>One connection of a destination that authenticates and resumes at the index's start, then follows a script.</summary>
    private sealed class ScriptedDestination(TransferConnection connection, CancellationToken ct) : IAsyncDisposable
    {
        public TransferConnection Connection { get; } = connection;

        public static async Task<ScriptedDestination> AcceptAsync(TcpListener listener, Migration m, CancellationToken ct)
        {
            var socket = await listener.AcceptSocketAsync(ct);
            var c = await TransferConnection.OpenServerAsync(new NetworkStream(socket, ownsSocket: true), null, ct);
            byte[] hello = (await c.ExpectAsync(MessageType.Hello, ct)).Payload.ToArray();
            byte[] challenge = new byte[ChallengeMessage.Size];
            new ChallengeMessage(ProtocolConstants.MaxVersion, RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize)).Write(challenge);
            await c.SendAsync(MessageType.Challenge, challenge, ct);
            byte[] transcript = Handshake.TranscriptHash(hello, challenge);
            await c.ExpectAsync(MessageType.SourceProof, ct);
            await c.SendAsync(new ProofMessage(MessageType.DestinationProof, Handshake.Proof(m.Secret, source: false, transcript)), ct);
            await c.SendAsync(new ResumeMessage(DestinationPhase.Index, 0, 0, new byte[ProtocolConstants.DigestSize]), ct);
            c.Reader.Authenticated();
            return new ScriptedDestination(c, ct);
        }

        /// <summary>The types of the frames read up to and including the first of <paramref name="type"/>.</summary>
        public async Task<List<MessageType>> ReadUntilAsync(MessageType type)
        {
            var seen = new List<MessageType>();
            while (seen.Count == 0 || seen[^1] != type)
                seen.Add((await Connection.Reader.ReadAsync(ct)).Type);
            return seen;
        }

        public ValueTask DisposeAsync() => Connection.DisposeAsync();
    }
}
