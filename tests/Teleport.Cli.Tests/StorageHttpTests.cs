using System.Net;
using System.Text.RegularExpressions;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport storage --http-listen`: /metrics shows NBD operations after qemu-io's real reads and writes and the
/// worker's own families; /readyz follows the volume directory; a bad address is refused in one line.
/// </summary>
public sealed class StorageHttpTests : IDisposable
{
    private const string Worker = "teleport_storage_id=\"http-run\"";

    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-storage-http-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Metrics_follow_real_nbd_io_and_readiness_follows_the_volume_directory()
    {
        string volumes = Directory.CreateDirectory(Path.Combine(_dir, "volumes")).FullName;
        string index = Directory.CreateDirectory(Path.Combine(_dir, "index")).FullName;
        using (var file = File.Create(Path.Combine(volumes, "lamp.img")))
            file.SetLength(4 << 20);
        int nbd = FreePort.Next();
        int http = FreePort.Next();
        var stderr = new SyncStringWriter();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => TeleportApp.Run(
            ["storage", "--id", "http-run", "--volumes", volumes, "--index", index, "--nbd-listen", $"127.0.0.1:{nbd}",
             "--data-listen", "127.0.0.1:0", "--bus", "memory", "--http-listen", $"127.0.0.1:{http}"],
            new StringWriter(), stderr, interactive: false, stop.Token));
        try
        {
            string ready = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, run);
            Assert.Contains("\"volumes\"", ready);
            Assert.Contains("\"nbd\"", ready);
            Assert.Contains("\"masstransit-bus\"", ready);
            Assert.Equal(HttpStatusCode.OK, (await RoleHttp.GetAsync(http, "/healthz")).Status);

            var io = await StorageWorkerRunTests.QemuIoResult($"nbd://127.0.0.1:{nbd}/lamp", "write -P 0xab 0 64k", "read -P 0xab 0 64k", "read 1M 8k");
            Assert.True(io.ExitCode == 0, io.Output);

            var (status, metrics) = await RoleHttp.GetAsync(http, "/metrics");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.True(Series(metrics, "teleport_nbd_server_operation_duration_seconds_count", "nbd_operation=\"read\"") >= 2, metrics);
            Assert.True(Series(metrics, "teleport_nbd_server_operation_duration_seconds_count", "nbd_operation=\"write\"") >= 1, metrics);
            Assert.Contains("teleport_nbd_server_operation_duration_seconds_bucket{", metrics);
            // Every payload buffer of qemu-io's requests went back to the budget.
            Assert.Equal(0, Series(metrics, "teleport_nbd_server_memory_usage_bytes"));
            Assert.Equal(0, Series(metrics, "teleport_storage_migrations_active", "teleport_migration_role=\"source\"", Worker));
            Assert.Equal(0, Series(metrics, "teleport_storage_blocks_resolved_total", "teleport_block_source=\"index\"", Worker));
            // The indexer may have taken in the block qemu-io wrote.
            Assert.InRange(Series(metrics, "teleport_storage_index_entries", Worker), 0, 1);
            Assert.Equal(0, Series(metrics, "teleport_storage_index_lookups_total", "teleport_index_result=\"hit\"", Worker));

            // The volume directory gone: not ready, saying why; back: ready again.
            Directory.Move(volumes, volumes + ".away");
            string notReady = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.ServiceUnavailable, run);
            Assert.Contains("volume directory", notReady);
            Assert.Equal(HttpStatusCode.OK, (await RoleHttp.GetAsync(http, "/healthz")).Status);
            Directory.Move(volumes + ".away", volumes);
            await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, run);
        }
        finally
        {
            await stop.CancelAsync();
        }

        int exit = await run.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
    }

    [Theory]
    [InlineData("localhost:9464")]
    [InlineData("9464")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:70000")]
    public void A_bad_listen_address_is_one_clear_line(string value)
    {
        var run = CliRun.Of("storage", "--id", "bad-http", "--volumes", _dir, "--nbd-listen", "127.0.0.1:0", "--bus", "memory", "--http-listen", value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"--http-listen '{value}'", run.Stderr);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("error:"));
    }

    /// <summary>The value of the first series of <paramref name="family"/> whose labels contain every one of <paramref name="labels"/>.</summary>
    internal static double Series(string metrics, string family, params string[] labels)
    {
        foreach (var match in Regex.Matches(metrics, $@"^{Regex.Escape(family)}\{{([^}}]*)\}} (\S+)", RegexOptions.Multiline).Cast<Match>())
        {
            if (labels.All(l => match.Groups[1].Value.Contains(l, StringComparison.Ordinal)))
                return double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        Assert.Fail($"no {family} with {string.Join(", ", labels)} in:\n{metrics}");
        return 0;
    }
}
