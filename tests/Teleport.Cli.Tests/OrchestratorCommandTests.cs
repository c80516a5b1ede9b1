namespace Teleport.Cli.Tests;

/// <summary>`teleport orchestrator`: refuses bad settings in one line, runs the saga on RabbitMQ with SQLite or PostgreSQL, stops on Ctrl-C.</summary>
[Collection(OrchestratorCollection.Name)]
public sealed class OrchestratorCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-orch-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("--bus", "kafka://x", "Orchestrator:Bus 'kafka://x' is none of")]
    [InlineData("--config", "/nonexistent/teleport.json", "settings file '/nonexistent/teleport.json' does not exist")]
    [InlineData("--db", " ", "Orchestrator:Database must name")]
    public void Bad_flags_are_one_clear_line(string option, string value, string message)
    {
        var run = CliRun.Of("orchestrator", option, value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("error:"));
    }

    [Theory]
    [InlineData("\"PrepareTimeout\": \"-00:00:05\"", "Orchestrator:Settings:PrepareTimeout -00:00:05 must be positive")]
    [InlineData("\"CopyTimeout\": \"soon\"", "Orchestrator settings:")]
    public void Bad_settings_in_the_config_file_are_one_clear_line(string setting, string message)
    {
        string file = Path.Combine(_dir, "orchestrator.json");
        File.WriteAllText(file, $$"""{ "Orchestrator": { "Database": "{{Path.Combine(_dir, "o.db")}}", "Settings": { {{setting}} } } }""");

        var run = CliRun.Of("orchestrator", "--config", file);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "o.db")), "nothing may be created for a refused configuration");
    }

    [Fact]
    public void An_unreachable_database_fails_the_start_in_one_line()
    {
        var run = CliRun.Of("orchestrator", "--db", "Host=127.0.0.1;Port=1;Database=none;Username=x;Password=y;Timeout=2", "--bus", "memory");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("error: Orchestrator could not start", run.Stderr);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task It_drives_a_migration_on_rabbitmq_and_keeps_it_in_the_database(string provider)
    {
        await using var bed = await OrchestratorTestBed.StartAsync(provider);

        var (run, id) = await bed.MigrateAndWait($"ok-{provider}");

        Assert.True(run.ExitCode == 0, run.Stderr + bed.OrchestratorErr);
        var row = await bed.WaitForState(id, "Succeeded");
        Assert.Equal(204_800, row.GetProperty("bytesOnWire").GetInt64());
        Assert.Equal(1, row.GetProperty("attempt").GetInt32());
    }
}
