using System.Security.Cryptography;
using System.Text;

namespace Teleport.Transfer.Protocol;

/// <summary>
/// Mutual challenge-response over the migration secret. Both nonces and the whole Hello/Challenge exchange go into a
/// transcript hash; each side proves knowledge of the secret with HMAC-SHA256(secret, role label || transcript hash).
/// The source proves first, so the destination never produces a proof for an unauthenticated peer. The secret is never sent.
/// </summary>
internal static class Handshake
{
    private static readonly byte[] SourceLabel = Encoding.ASCII.GetBytes("teleport/1 source proof");
    private static readonly byte[] DestinationLabel = Encoding.ASCII.GetBytes("teleport/1 destination proof");

    public const int MinSecretBytes = 16;

    public static byte[] TranscriptHash(ReadOnlySpan<byte> hello, ReadOnlySpan<byte> challenge)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(hello);
        hash.AppendData(challenge);
        return hash.GetHashAndReset();
    }

    public static byte[] Proof(ReadOnlySpan<byte> secret, bool source, ReadOnlySpan<byte> transcriptHash)
    {
        byte[] label = source ? SourceLabel : DestinationLabel;
        Span<byte> input = stackalloc byte[label.Length + transcriptHash.Length];
        label.CopyTo(input);
        transcriptHash.CopyTo(input[label.Length..]);
        return HMACSHA256.HashData(secret, input);
    }

    public static bool Check(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> received) =>
        received.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, received);

    public static void ValidateSecret(ReadOnlySpan<byte> secret)
    {
        if (secret.Length < MinSecretBytes)
            throw new ArgumentException($"the migration secret must have at least {MinSecretBytes} bytes (it has {secret.Length})");
    }
}
