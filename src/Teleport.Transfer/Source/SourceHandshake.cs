using System.Net.Sockets;
using System.Security.Cryptography;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Source;

/// <summary>
/// The source's side of opening a connection: connect to the destination, then Hello, Challenge and the two proofs
/// of the migration secret; the destination answers with where to resume.
/// </summary>
internal static class SourceHandshake
{
    /// <summary>Opens the raw stream; the socket is null when <see cref="SourceOptions.Connect"/> provided the stream.</summary>
    public static async Task<(Stream Stream, Socket? Socket)> ConnectAsync(SourceOptions options, CancellationToken ct)
    {
        if (options.Connect is { } connect)
            return (await connect(ct).ConfigureAwait(false), null);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            SocketTuning.Apply(socket);
            await socket.ConnectAsync(options.Destination!, ct).ConfigureAwait(false);
            return (new NetworkStream(socket, ownsSocket: true), socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static async Task<ResumeMessage> AuthenticateAsync(TransferConnection c, SourceOptions options, Guid sessionId,
        VolumeGeometry geometry, CancellationToken ct)
    {
        var hello = new HelloMessage(ProtocolConstants.MinVersion, ProtocolConstants.MaxVersion, options.MigrationId, sessionId,
            RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize), geometry.Size, geometry.BlockSize);
        byte[] helloBytes = new byte[HelloMessage.Size];
        hello.Write(helloBytes);
        await c.SendAsync(MessageType.Hello, helloBytes, ct).ConfigureAwait(false);

        var challengeFrame = await c.ExpectAsync(MessageType.Challenge, ct).ConfigureAwait(false);
        byte[] challengeBytes = challengeFrame.Payload.ToArray();
        var challenge = ChallengeMessage.Parse(challengeBytes);
        if (challenge.Version < ProtocolConstants.MinVersion || challenge.Version > ProtocolConstants.MaxVersion)
            throw new TransferException(TransferErrorCode.UnsupportedVersion,
                $"destination chose protocol version {challenge.Version}; this source speaks {ProtocolConstants.MinVersion}..{ProtocolConstants.MaxVersion}");

        if (options.Tls is not { Mutual: true })
            await ProveSecretAsync(c, options, helloBytes, challengeBytes, ct).ConfigureAwait(false);
        var resumeFrame = await c.ExpectAsync(MessageType.Resume, ct).ConfigureAwait(false);
        return ResumeMessage.Parse(resumeFrame.Payload.Span);
    }

    // Without mutual TLS, both ends prove the migration secret (the source first).
    private static async Task ProveSecretAsync(TransferConnection c, SourceOptions options, byte[] helloBytes, byte[] challengeBytes, CancellationToken ct)
    {
        byte[] transcript = Handshake.TranscriptHash(helloBytes, challengeBytes);
        await c.SendAsync(new ProofMessage(MessageType.SourceProof, Handshake.Proof(options.Secret, source: true, transcript)), ct).ConfigureAwait(false);
        var proofFrame = await c.ExpectAsync(MessageType.DestinationProof, ct).ConfigureAwait(false);
        var proof = ProofMessage.Parse(proofFrame.Payload.Span, MessageType.DestinationProof);
        if (!Handshake.Check(Handshake.Proof(options.Secret, source: false, transcript), proof.Mac))
            throw new TransferException(TransferErrorCode.AuthenticationFailed, "the destination could not prove the migration secret");
    }
}
