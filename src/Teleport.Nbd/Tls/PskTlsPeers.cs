using System.Text;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace Teleport.Nbd.Tls;

/// <summary>
/// BouncyCastle's PSK peers narrowed to what Teleport allows and GnuTLS (QEMU's tls-creds-psk) offers by default:
/// TLS 1.2 with an ephemeral key exchange (forward secrecy) and an AEAD cipher. BouncyCastle's own defaults also
/// allow TLS 1.0 and CBC suites.
/// </summary>
internal static class PskTlsPeers
{
    private static readonly int[] Suites =
    [
        CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_DHE_PSK_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
    ];

    private static readonly ProtocolVersion[] Versions = [ProtocolVersion.TLSv12];

    private static TlsCrypto NewCrypto() => new BcTlsCrypto(new SecureRandom());

    /// <summary>The server: accepts any identity of its key file and remembers the one the client proved.</summary>
    internal sealed class Server(IReadOnlyDictionary<string, byte[]> keys) : PskTlsServer(NewCrypto(), new KeyTable(keys))
    {
        /// <summary>The client's identity once the handshake has finished; null before.</summary>
        public string? AuthenticatedIdentity { get; private set; }

        protected override ProtocolVersion[] GetSupportedVersions() => Versions;

        protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto, Suites);

        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            // The Finished messages proved the client holds the key of the identity it named.
            byte[]? identity = m_context.SecurityParameters.PskIdentity;
            AuthenticatedIdentity = identity is null ? null : Encoding.UTF8.GetString(identity);
        }
    }

    /// <summary>The client: one identity and its key (a copy, which BouncyCastle clears after the handshake).</summary>
    internal sealed class Client(byte[] identity, byte[] key) : PskTlsClient(NewCrypto(), identity, key)
    {
        protected override ProtocolVersion[] GetSupportedVersions() => Versions;

        protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto, Suites);
    }

    /// <summary>
    /// Keys by identity; an unknown identity gets no key, which fails the handshake (unknown_psk_identity). Each
    /// handshake gets a copy: BouncyCastle clears the key it was given once the secret is derived.
    /// </summary>
    private sealed class KeyTable(IReadOnlyDictionary<string, byte[]> keys) : TlsPskIdentityManager
    {
        public byte[]? GetHint() => null;

        public byte[]? GetPsk(byte[] identity) =>
            keys.TryGetValue(Encoding.UTF8.GetString(identity), out byte[]? key) ? (byte[])key.Clone() : null;
    }
}
