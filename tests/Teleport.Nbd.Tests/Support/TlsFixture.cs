using Teleport.Nbd.Server;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Tests.Support;

/// <summary>
/// Certificates of the NBD-over-TLS tests, made once per test class: our CA with a server and clients "host-a"
/// (allowed export "disk") and "intruder" (allowed nothing), a directory with the CA only, and a client from another CA.
/// </summary>
public sealed class TlsFixture : IAsyncLifetime
{
    private TestCertificates? _ca;
    private TestCertificates? _otherCa;

    public string ServerDirectory { get; private set; } = "";

    public string HostA { get; private set; } = "";

    public string Intruder { get; private set; } = "";

    public string CaOnly { get; private set; } = "";

    /// <summary>Client "host-a" from another CA (trusting that CA and ours).</summary>
    public string OtherCaClient { get; private set; } = "";

    /// <summary>A server certificate from the other CA (trusting that CA and ours).</summary>
    public string OtherCaServer { get; private set; } = "";

    /// <summary>Server options: TLS with our CA; host-a may open "disk" and "shared", anyone of the CA "shared".</summary>
    public NbdServerOptions ServerOptions() => new()
    {
        Tls = NbdTlsCredentials.ForServer(ServerDirectory),
        ExportAccess = (export, identity) => export == "shared" || (export == "disk" && identity == "host-a"),
    };

    public async Task InitializeAsync()
    {
        _ca = await TestCertificates.CreateAsync();
        _otherCa = await TestCertificates.CreateAsync("another-ca");
        ServerDirectory = await _ca.ServerDirectoryAsync();
        HostA = await _ca.ClientDirectoryAsync("host-a");
        Intruder = await _ca.ClientDirectoryAsync("intruder");
        CaOnly = _ca.CaOnlyDirectory();
        OtherCaClient = await _otherCa.ClientDirectoryAsync("host-a");
        OtherCaServer = await _otherCa.ServerDirectoryAsync();
        // They trust both CAs (a bundle): their own certificate is valid to them, ours to them too, theirs not to us.
        string ours = await File.ReadAllTextAsync(_ca.CaCertificate);
        await File.AppendAllTextAsync(Path.Combine(OtherCaClient, NbdTlsCredentials.CaFile), ours);
        await File.AppendAllTextAsync(Path.Combine(OtherCaServer, NbdTlsCredentials.CaFile), ours);
    }

    public Task DisposeAsync()
    {
        _ca?.Dispose();
        _otherCa?.Dispose();
        return Task.CompletedTask;
    }
}
