using System.Net;

namespace Teleport.Storage.Migrations;

/// <summary>The destination's data endpoint and certificate pin as a StartTransfer carries them (text from the bus).</summary>
internal static class DataChannelAddress
{
    private const int PinBytes = 32;

    /// <summary>"ADDR:PORT", "[v6]:PORT" or "host:PORT".</summary>
    public static EndPoint ParseEndPoint(string text)
    {
        if (IPEndPoint.TryParse(text, out var ip) && ip.Port != 0)
            return ip;
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), out int port) && port is > 0 and <= 65535 && Uri.CheckHostName(text[..colon]) != UriHostNameType.Unknown)
            return new DnsEndPoint(text[..colon], port);
        throw new ArgumentException($"data endpoint '{text}' is not HOST:PORT");
    }

    /// <summary>The destination's certificate pin: 64 hex digits (colons allowed).</summary>
    public static byte[] ParsePin(string text)
    {
        byte[] pin;
        try
        {
            pin = Convert.FromHexString(text.Replace(":", "", StringComparison.Ordinal));
        }
        catch (FormatException)
        {
            pin = [];
        }

        return pin.Length == PinBytes ? pin : throw new ArgumentException($"certificate pin '{text}' is not a SHA-256 in hex (64 digits)");
    }
}
