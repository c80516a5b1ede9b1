using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Serilog.Extensions.Logging;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>What <c>teleport send</c> and <c>teleport receive</c> share: the secret, the id, endpoints, logging, the report.</summary>
internal static class TransferSupport
{
    private const int MinSecretBytes = 16;

    public static byte[] ReadSecret(string path)
    {
        if (!File.Exists(path))
            throw new UserInputException($"secret file '{path}' does not exist");
        byte[] secret = File.ReadAllBytes(path);
        if (secret.Length < MinSecretBytes)
            throw new UserInputException($"secret file '{path}' holds {secret.Length} bytes; a migration secret needs at least {MinSecretBytes} (e.g. head -c 32 /dev/urandom > {path})");
        return secret;
    }

    /// <summary>Both sides derive the same id from the secret, so a cold migration needs no extra agreement.</summary>
    public static Guid MigrationIdFor(TransferSettings settings, byte[] secret)
    {
        if (settings.MigrationId is { } id)
            return id;
        byte[] hash = HMACSHA256.HashData(secret, "teleport standalone migration id"u8);
        return new Guid(hash.AsSpan(0, 16));
    }

    public static IPEndPoint ParseListen(string text)
    {
        if (!IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port == 0 && !text.EndsWith(":0", StringComparison.Ordinal))
            throw new UserInputException($"--listen '{text}' is not ADDRESS:PORT (e.g. 0.0.0.0:7000 or [::]:7000)");
        return endPoint;
    }

    public static EndPoint ParseDestination(string text)
    {
        if (IPEndPoint.TryParse(text, out var ip) && ip.Port != 0)
            return ip;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535)
            throw new UserInputException($"--to '{text}' is not HOST:PORT");
        return new DnsEndPoint(text[..colon], port, AddressFamily.Unspecified);
    }

    public static ByteRate ParseRate(string text) =>
        ByteRate.TryParse(text, out var rate)
            ? rate
            : throw new UserInputException($"--bandwidth '{text}' is not a rate (examples: 100mbit, 1gbit, 12.5MB/s, unlimited)");

    public static ILoggerFactory LoggerFactory() => new SerilogLoggerFactory(Serilog.Log.Logger);

    /// <summary>Shows the figures (JSON or a table); the exit code says whether the volume was verified.</summary>
    public static int Report(CliConsole console, TransferResult result, bool json, long volumeBytes)
    {
        if (json)
            console.WriteJson(result);
        else
            console.Results.Write(TransferTables.Summary(result, volumeBytes));
        return result.Verified ? ExitCodes.Success : ExitCodes.Failure;
    }

}
