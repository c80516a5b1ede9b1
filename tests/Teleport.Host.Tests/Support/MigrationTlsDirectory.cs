using System.Diagnostics;

namespace Teleport.Host.Tests.Support;

/// <summary>A throwaway CA, server and client certificate in QEMU's tls-creds-x509 layout, made with openssl.</summary>
internal static class MigrationTlsDirectory
{
    /// <summary>Creates the directory; the server certificate is for <paramref name="address"/> (an IP SAN).</summary>
    public static async Task<string> CreateAsync(string directory, string address)
    {
        Directory.CreateDirectory(directory);
        string File(string name) => Path.Combine(directory, name);
        await System.IO.File.WriteAllTextAsync(File("server.ext"), $"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n");
        await System.IO.File.WriteAllTextAsync(File("client.ext"), "extendedKeyUsage=clientAuth\n");
        await RunAsync("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", File("ca-key.pem"), "-out", File("ca-cert.pem"), "-days", "2", "-subj", "/CN=teleport-test-ca");
        foreach (string role in new[] { "server", "client" })
        {
            await RunAsync("req", "-newkey", "rsa:2048", "-nodes", "-keyout", File($"{role}-key.pem"), "-out", File($"{role}.csr"), "-subj", $"/CN={(role == "server" ? address : "teleport-test-client")}");
            await RunAsync("x509", "-req", "-in", File($"{role}.csr"), "-CA", File("ca-cert.pem"), "-CAkey", File("ca-key.pem"), "-CAcreateserial",
                "-out", File($"{role}-cert.pem"), "-days", "2", "-extfile", File($"{role}.ext"));
        }

        return directory;
    }

    private static async Task RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start");
        string errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"openssl {string.Join(' ', arguments)}: {errors}");
    }
}
