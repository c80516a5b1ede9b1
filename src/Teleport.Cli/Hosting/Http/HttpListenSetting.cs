using System.Net;
using Microsoft.Extensions.Configuration;

namespace Teleport.Cli.Hosting.Http;

/// <summary>
/// Where a role serves /metrics, /healthz and /readyz: <c>--http-listen ADDRESS:PORT</c>, or the key HttpListen of the
/// role's section (TELEPORT_STORAGE__HTTPLISTEN, ...). Unset means no HTTP listener.
/// </summary>
public static class HttpListenSetting
{
    public const string Key = "HttpListen";

    /// <summary>The endpoint to listen on, or null when the setting is absent or empty.</summary>
    /// <exception cref="UserInputException">A value that is not an IP address with a port from 1 to 65535.</exception>
    public static IPEndPoint? Read(IConfiguration configuration, string section)
    {
        string? text = configuration[$"{section}:{Key}"];
        if (string.IsNullOrWhiteSpace(text))
            return null;
        // "9464" alone parses as an IPv4 address without a port: a port must be given.
        if (!IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0 || !text.Contains(':'))
        {
            throw new UserInputException(
                $"--http-listen '{text}' ({section}:{Key}) is not ADDRESS:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:9464 or [::]:9464)");
        }

        return endPoint;
    }
}
