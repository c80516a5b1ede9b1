namespace Teleport.Cli.Tests;

/// <summary>`teleport storage` refuses bad settings before it starts anything (the worker itself is tested in Teleport.Storage.Tests).</summary>
public sealed class StorageCommandTests : IDisposable
{
    private readonly string _volumes = Directory.CreateTempSubdirectory("teleport-storage-cli-").FullName;

    public void Dispose() => Directory.Delete(_volumes, recursive: true);

    [Theory]
    [InlineData("--id", "a/b", "StorageId")]
    [InlineData("--nbd-listen", "nowhere", "NbdListen")]
    [InlineData("--bus", "kafka://x", "Bus")]
    [InlineData("--volumes", "/nonexistent/teleport-volumes", "volume directory '/nonexistent/teleport-volumes' does not exist")]
    public void Bad_settings_are_one_clear_line(string option, string value, string message)
    {
        var args = new List<string> { "storage", "--id", "s1", "--volumes", _volumes, "--nbd-listen", "127.0.0.1:0", "--bus", "memory" };
        args[args.IndexOf(option) + 1] = value;

        var run = CliRun.Of([.. args]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [Fact]
    public void An_unusable_TLS_certificate_is_a_bad_setting()
    {
        string certificate = Path.Combine(_volumes, "cert.pfx");
        File.WriteAllText(certificate, "not a certificate");
        string config = Path.Combine(_volumes, "storage.json");
        File.WriteAllText(config, $$"""{ "Storage": { "TlsCertificate": "{{certificate}}" } }""");

        var run = CliRun.Of("storage", "--config", config, "--id", "s1", "--volumes", _volumes, "--nbd-listen", "127.0.0.1:0", "--bus", "memory");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("TlsCertificate", run.Stderr);
        Assert.Contains("cannot be loaded", run.Stderr);
    }

    [Fact]
    public void Plain_nbd_on_a_network_address_needs_nbd_insecure_and_an_empty_tls_directory_is_refused()
    {
        var exposed = CliRun.Of("storage", "--id", "s1", "--volumes", _volumes, "--nbd-listen", "0.0.0.0:0", "--bus", "memory");
        var noCertificates = CliRun.Of("storage", "--id", "s1", "--volumes", _volumes, "--nbd-listen", "0.0.0.0:0", "--nbd-tls-dir", _volumes, "--bus", "memory");

        Assert.Equal(2, exposed.ExitCode);
        Assert.Contains("--nbd-insecure", exposed.Stderr);
        Assert.Equal(2, noCertificates.ExitCode);
        Assert.Contains("ca-cert.pem", noCertificates.Stderr);
    }

    [Theory]
    [InlineData("""{ "Storage": { "DataChannel": { "MaxHandshakes": 0 } } }""", "Storage:DataChannel:MaxHandshakes")]
    [InlineData("""{ "Storage": { "DataChannel": { "HandshakeTimeout": "-00:00:01" } } }""", "Storage:DataChannel:HandshakeTimeout")]
    [InlineData("""{ "Storage": { "Nbd": { "MemoryBudget": 1048576 } } }""", "Storage:Nbd:MemoryBudget")]
    public void Bad_listener_limits_in_the_settings_file_are_refused(string json, string message)
    {
        string config = Path.Combine(_volumes, "storage.json");
        File.WriteAllText(config, json);

        var run = CliRun.Of("storage", "--config", config, "--id", "s1", "--volumes", _volumes, "--nbd-listen", "127.0.0.1:0", "--bus", "memory");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [Theory]
    [InlineData("1M", "Storage:Nbd:MemoryBudget")]
    [InlineData("lots", "is not a size")]
    public void A_bad_nbd_memory_budget_flag_is_refused(string value, string message)
    {
        var run = CliRun.Of("storage", "--id", "s1", "--volumes", _volumes, "--nbd-listen", "127.0.0.1:0", "--bus", "memory", "--nbd-memory-budget", value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [Fact]
    public void A_missing_id_is_refused()
    {
        var run = CliRun.Of("storage", "--volumes", _volumes, "--nbd-listen", "127.0.0.1:0");

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("StorageId", run.Stderr);
    }
}
