using System.Net.NetworkInformation;

namespace Teleport.Cli.Tests;

/// <summary><c>teleport send</c> and <c>teleport receive</c> against each other on loopback.</summary>
public sealed class SendReceiveCommandTests : IDisposable
{
    private readonly TestImages _images = new();
    private readonly string _secret;

    public SendReceiveCommandTests()
    {
        _secret = _images.PathOf("secret");
        File.WriteAllBytes(_secret, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    }

    public void Dispose() => _images.Dispose();

    private static string FreeEndpoint() => $"127.0.0.1:{FreePort.Next()}";

    private static async Task<CliRun> SendWhenListening(string endpoint, params string[] args)
    {
        // Wait until the receiver listens (without connecting to it), so the sender's first connection is the real one.
        int port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..]);
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!IPGlobalProperties.GetIPGlobalProperties().GetActiveTcpListeners().Any(l => l.Port == port))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the receiver never listened on {endpoint}");
            await Task.Delay(50);
        }
        return CliRun.Of(["send", "--to", endpoint, .. args]);
    }

    [Fact]
    public async Task A_volume_crosses_verified_and_blocks_the_destination_holds_are_not_sent()
    {
        string index = _images.PathOf("index");
        CliRun.Of("index", "build", "--index", index, _images.Base, "--json").Json();
        string output = _images.PathOf("received.img");
        string endpoint = FreeEndpoint();

        var receiver = Task.Run(() => CliRun.Of("receive", "--listen", endpoint, "--volume", output, "--index", index,
            "--secret-file", _secret, "--size", new FileInfo(_images.Target).Length.ToString(), "--json"));
        var sender = await SendWhenListening(endpoint, "--volume", _images.Target, "--secret-file", _secret, "--json");
        var received = await receiver.WaitAsync(TimeSpan.FromMinutes(2));

        var sent = sender.Json();
        var got = received.Json();
        foreach (string? field in new[] { "bytesOnWire", "indexBytes", "dataBytes", "blocks", "zeroBlocks", "blocksFromIndex", "blocksFromVolume", "blocksSent", "rounds", "seconds", "verified" })
        {
            Assert.True(sent.TryGetProperty(field, out _), $"send --json lacks {field}");
            Assert.True(got.TryGetProperty(field, out _), $"receive --json lacks {field}");
        }
        Assert.True(sent.GetProperty("verified").GetBoolean());
        Assert.True(got.GetProperty("verified").GetBoolean());
        Assert.Equal(File.ReadAllBytes(_images.Target), File.ReadAllBytes(output));
        Assert.False(File.Exists(output + ".teleport-state"), "a verified volume needs no resume state");
        Assert.Equal(120, got.GetProperty("blocks").GetInt64());
        Assert.Equal(32, got.GetProperty("zeroBlocks").GetInt64());
        // 64 blocks are in the base's index; 16 new ones cross once (their 8 repeats do not).
        Assert.Equal(64, got.GetProperty("blocksFromIndex").GetInt64());
        Assert.Equal(16, got.GetProperty("blocksSent").GetInt64());
        Assert.Equal(8, got.GetProperty("blocksFromVolume").GetInt64());
        Assert.Equal(8, sent.GetProperty("blocksFromVolume").GetInt64());
        Assert.Equal(sent.GetProperty("bytesOnWire").GetInt64(), got.GetProperty("bytesOnWire").GetInt64());
    }

    [Fact]
    public async Task A_sender_with_the_wrong_secret_fails_and_writes_nothing()
    {
        string output = _images.PathOf("received.img");
        string wrong = _images.PathOf("wrong-secret");
        File.WriteAllBytes(wrong, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        string endpoint = FreeEndpoint();
        using var stop = new CancellationTokenSource();
        var receiver = Task.Run(() =>
        {
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = TeleportApp.Run(["receive", "--listen", endpoint, "--volume", output, "--secret-file", _secret,
                "--migration-id", "6d7c2a8e-0000-4000-8000-000000000001"], stdout, stderr, interactive: false, stop.Token);
            return new CliRun(code, stdout.ToString(), stderr.ToString());
        });

        var sender = await SendWhenListening(endpoint, "--volume", _images.Target, "--secret-file", wrong,
            "--migration-id", "6d7c2a8e-0000-4000-8000-000000000001");
        stop.Cancel();
        var received = await receiver.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(1, sender.ExitCode);
        Assert.Contains("secret", sender.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1, received.ExitCode);
        Assert.True(!File.Exists(output) || new FileInfo(output).Length == 0, "a refused sender must not create the volume");
    }

    [Fact]
    public async Task A_receiver_expecting_another_size_refuses_the_sender()
    {
        string endpoint = FreeEndpoint();
        var receiver = Task.Run(() => CliRun.Of("receive", "--listen", endpoint, "--volume", _images.PathOf("received.img"),
            "--secret-file", _secret, "--size", "1m"));
        var sender = await SendWhenListening(endpoint, "--volume", _images.Target, "--secret-file", _secret);
        var received = await receiver.WaitAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(1, received.ExitCode);
        Assert.Contains("this destination was prepared for 1048576", received.Stderr);
        Assert.Equal(1, sender.ExitCode);
    }

    [Theory]
    [InlineData("--to", "nowhere", "is not HOST:PORT")]
    [InlineData("--bandwidth", "fast", "is not a rate")]
    [InlineData("--block-size", "1000", "--block-size")]
    [InlineData("--compression-level", "40", "--compression-level")]
    [InlineData("--tls-pin", "abc", "--tls-pin")]
    public void Bad_send_options_are_clear_errors(string option, string value, string message)
    {
        var args = new List<string> { "send", "--to", "127.0.0.1:9", "--volume", _images.Target, "--secret-file", _secret };
        int at = args.IndexOf(option);
        if (at >= 0)
            args[at + 1] = value;
        else
            args.AddRange([option, value]);

        var run = CliRun.Of([.. args]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
    }

    [Fact]
    public void A_short_secret_is_refused_before_anything_connects()
    {
        File.WriteAllText(_secret, "short");

        var run = CliRun.Of("send", "--to", "127.0.0.1:9", "--volume", _images.Target, "--secret-file", _secret);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("at least 16", run.Stderr);
    }
}
