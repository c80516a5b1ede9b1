using System.Security.Authentication;
using System.Text;
using Org.BouncyCastle.Tls;

namespace Teleport.Nbd.Tls;

/// <summary>
/// Pre-shared keys of NBD over TLS-PSK, read from a file in the format of QEMU's <c>tls-creds-psk</c>
/// (<c>DIR/keys.psk</c>): one <c>identity:hexkey</c> a line. The server knows every identity of the file; a client uses
/// the key of its own identity (a host's id). The identity a client proves is what the per-export grants name.
/// TLS 1.2 with (EC)DHE-PSK and an AEAD cipher only (see <see cref="PskTlsPeers"/>); .NET's SslStream has no PSK.
/// </summary>
public sealed class NbdPskCredentials : NbdTls
{
    /// <summary>The file name QEMU's <c>tls-creds-psk dir=</c> reads.</summary>
    public const string KeysFile = "keys.psk";

    private readonly IReadOnlyDictionary<string, byte[]> _keys;

    private NbdPskCredentials(string file, IReadOnlyDictionary<string, byte[]> keys, string? identity)
    {
        File = file;
        _keys = keys;
        Identity = identity;
    }

    /// <summary>The key file the credentials were read from.</summary>
    public string File { get; }

    /// <summary>The identity a client presents; null on the server side.</summary>
    public string? Identity { get; }

    /// <summary>The identities a server accepts.</summary>
    public IEnumerable<string> Identities => _keys.Keys;

    /// <summary>Reads every identity and key of <paramref name="file"/> (a server accepts them all).</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable, malformed or empty.</exception>
    public static NbdPskCredentials ForServer(string file) => new(file, Read(file), identity: null);

    /// <summary>Reads the key of <paramref name="identity"/> from <paramref name="file"/> (the client's side).</summary>
    /// <exception cref="InvalidDataException">The file is missing, unreadable or malformed, or has no key for the identity.</exception>
    public static NbdPskCredentials ForClient(string file, string identity)
    {
        var keys = Read(file);
        if (!keys.TryGetValue(identity, out byte[]? key))
        {
            throw new InvalidDataException($"NBD PSK file '{file}' has no key for identity '{identity}'.");
        }

        return new NbdPskCredentials(file, new Dictionary<string, byte[]> { [identity] = key }, identity);
    }

    internal override async Task<(Stream Secure, string? Identity)> AcceptAsync(Stream plain, CancellationToken cancellationToken)
    {
        var server = new PskTlsPeers.Server(_keys);
        var secure = await PskTlsStream.AcceptAsync(plain, server, cancellationToken).ConfigureAwait(false);
        return (secure, server.AuthenticatedIdentity);
    }

    internal override async Task<Stream> ConnectAsync(Stream plain, string targetHost, CancellationToken cancellationToken)
    {
        string identity = Identity ?? throw new InvalidOperationException("Server-side PSK credentials cannot connect.");
        var client = new PskTlsPeers.Client(Encoding.UTF8.GetBytes(identity), (byte[])_keys[identity].Clone());
        return await PskTlsStream.ConnectAsync(plain, client, cancellationToken).ConfigureAwait(false);
    }

    private static Dictionary<string, byte[]> Read(string file)
    {
        string[] lines;
        try
        {
            lines = System.IO.File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidDataException($"NBD PSK file '{file}' is not readable: {e.Message}", e);
        }

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            (string identity, byte[] key) = ParseLine(line) ?? throw new InvalidDataException(
                $"NBD PSK file '{file}' line {i + 1}: expected 'identity:hexkey' (an identity without ':' or spaces, a key of whole hex bytes).");
            if (!keys.TryAdd(identity, key))
            {
                throw new InvalidDataException($"NBD PSK file '{file}' line {i + 1}: identity '{identity}' appears twice.");
            }
        }

        return keys.Count > 0 ? keys : throw new InvalidDataException($"NBD PSK file '{file}' holds no key.");
    }

    private static (string Identity, byte[] Key)? ParseLine(string line)
    {
        int colon = line.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || line.AsSpan(0, colon).ContainsAny(" \t") || colon == line.Length - 1)
        {
            return null;
        }

        try
        {
            return (line[..colon], Convert.FromHexString(line.AsSpan(colon + 1)));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>A handshake failure as the STARTTLS flow reports it.</summary>
    internal static AuthenticationException Failed(Exception e) =>
        new($"TLS-PSK handshake failed: {(e is TlsFatalAlert alert ? AlertDescription.GetText(alert.AlertDescription) : e.Message)}", e);
}
