using System.Diagnostics;

namespace Teleport.Testing;

/// <summary>
/// A throw-away certificate authority made with the real openssl, issuing certificates into directories in the layout
/// of QEMU's <c>tls-creds-x509 dir=</c> (ca-cert.pem, server-cert.pem/server-key.pem, client-cert.pem/client-key.pem),
/// with the extensions QEMU's gnutls checks insist on. Every directory lives under one <see cref="TempDir"/>.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly TempDir _root = new();
    private int _issued;

    private TestCertificates(string name)
    {
        Name = name;
        CaCertificate = _root.File("ca-cert.pem");
    }

    /// <summary>The CA's subject CN.</summary>
    public string Name { get; }

    /// <summary>The CA certificate (PEM).</summary>
    public string CaCertificate { get; }

    private string CaKey => _root.File("ca-key.pem");

    /// <summary>Makes a new self-signed CA.</summary>
    public static async Task<TestCertificates> CreateAsync(string name = "teleport-test-ca")
    {
        var ca = new TestCertificates(name);
        await RunAsync("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", ca.CaKey, "-out", ca.CaCertificate, "-days", "30", "-subj", $"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return ca;
    }

    /// <summary>A directory with ca-cert.pem, server-cert.pem and server-key.pem (valid for localhost and 127.0.0.1).</summary>
    public Task<string> ServerDirectoryAsync(string commonName = "storage") =>
        IssueAsync("server", commonName, "serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");

    /// <summary>A directory with ca-cert.pem, client-cert.pem and client-key.pem whose subject CN is <paramref name="commonName"/>.</summary>
    public Task<string> ClientDirectoryAsync(string commonName) => IssueAsync("client", commonName, "clientAuth", "");

    /// <summary>A directory with only this CA's ca-cert.pem (a client without a certificate of its own).</summary>
    public string CaOnlyDirectory()
    {
        string directory = NewDirectory();
        File.Copy(CaCertificate, Path.Combine(directory, "ca-cert.pem"));
        return directory;
    }

    public void Dispose() => _root.Dispose();

    private async Task<string> IssueAsync(string role, string commonName, string usage, string extra)
    {
        string directory = CaOnlyDirectory();
        string key = Path.Combine(directory, $"{role}-key.pem");
        string request = Path.Combine(directory, $"{role}.csr");
        string extensions = Path.Combine(directory, $"{role}.ext");
        await File.WriteAllTextAsync(extensions,
            $"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n{extra}");
        await RunAsync("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", request, "-subj", $"/CN={commonName}");
        await RunAsync("x509", "-req", "-in", request, "-CA", CaCertificate, "-CAkey", CaKey, "-set_serial", Random.Shared.NextInt64(1, long.MaxValue).ToString(),
            "-days", "30", "-extfile", extensions, "-out", Path.Combine(directory, $"{role}-cert.pem"));
        File.Delete(request);
        File.Delete(extensions);
        return directory;
    }

    private string NewDirectory()
    {
        string directory = _root.File($"d{Interlocked.Increment(ref _issued)}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static async Task RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(TestEnvironment.OpenSsl) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await output;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', arguments)} failed (exit {process.ExitCode}): {error}");
        }
    }
}
