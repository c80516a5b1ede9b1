using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Teleport.Orchestrator.Dashboard;

/// <summary>
/// The operator token of the dashboard's actions (Orchestrator:OperatorToken), sent as "Authorization: Bearer ...".
/// Both sides are hashed before a constant-time comparison, so neither the token's content nor its length leaks
/// through timing. Without a configured token every action is refused.
/// </summary>
public sealed class OperatorToken
{
    private readonly byte[]? _hash;

    public OperatorToken(OrchestratorOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.OperatorToken))
            _hash = SHA256.HashData(Encoding.UTF8.GetBytes(options.OperatorToken));
    }

    /// <summary>A token is configured: actions can be authorised at all.</summary>
    public bool Enabled => _hash is not null;

    /// <summary>The request carries the configured token as a bearer token.</summary>
    public bool Authorises(HttpRequest request)
    {
        if (_hash is null)
            return false;
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (header.Length > 1024 || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            return false;
        byte[] presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _hash);
    }
}
