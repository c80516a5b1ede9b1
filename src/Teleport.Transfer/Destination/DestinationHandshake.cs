using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// The destination's side of authenticating a connection: Hello (version, migration), Challenge, and, without mutual
/// TLS, the source's proof of the migration secret checked before the destination proves it in turn.
/// </summary>
internal static class DestinationHandshake
{
    public static async Task<HelloMessage> AuthenticateAsync(TransferConnection c, DestinationOptions options, ILogger log, CancellationToken ct)
    {
        var helloFrame = await c.ExpectAsync(MessageType.Hello, ct).ConfigureAwait(false);
        byte[] helloBytes = helloFrame.Payload.ToArray();
        var hello = HelloMessage.Parse(helloBytes);
        ushort version = Math.Min(hello.MaxVersion, ProtocolConstants.MaxVersion);
        if (version < Math.Max(hello.MinVersion, ProtocolConstants.MinVersion))
            throw new TransferException(TransferErrorCode.UnsupportedVersion,
                $"destination speaks protocol versions {ProtocolConstants.MinVersion}..{ProtocolConstants.MaxVersion}, source offers {hello.MinVersion}..{hello.MaxVersion}");
        if (hello.MigrationId != options.MigrationId)
        {
            // The peer is not authenticated yet: it learns no migration id, our log has both.
            log.LogWarning("Migration {MigrationId}: a source asked for migration {Asked}", options.MigrationId, hello.MigrationId);
            throw new TransferException(TransferErrorCode.WrongMigration, "this endpoint serves another migration");
        }

        var challenge = new ChallengeMessage(version, RandomNumberGenerator.GetBytes(ProtocolConstants.NonceSize));
        byte[] challengeBytes = new byte[ChallengeMessage.Size];
        challenge.Write(challengeBytes);
        await c.SendAsync(MessageType.Challenge, challengeBytes, ct).ConfigureAwait(false);
        if (options.Tls is { Mutual: true })
            return hello; // TLS authenticated both ends by their certificates: there is no secret to prove.

        byte[] transcript = Handshake.TranscriptHash(helloBytes, challengeBytes);
        var proofFrame = await c.ExpectAsync(MessageType.SourceProof, ct).ConfigureAwait(false);
        var proof = ProofMessage.Parse(proofFrame.Payload.Span, MessageType.SourceProof);
        if (!Handshake.Check(Handshake.Proof(options.Secret, source: true, transcript), proof.Mac))
            throw new TransferException(TransferErrorCode.AuthenticationFailed, "the source could not prove the migration secret");
        await c.SendAsync(new ProofMessage(MessageType.DestinationProof, Handshake.Proof(options.Secret, source: false, transcript)), ct).ConfigureAwait(false);
        return hello;
    }
}
