using System.Diagnostics;

namespace Teleport.Cli.Tests;

/// <summary>docker-compose.yml is for users; no engine runs here, so it is checked with `docker-compose config`.</summary>
public sealed class DeploymentFileTests
{
    private static string RepositoryFile(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Teleport.sln")))
                return Path.Combine(dir.FullName, name);
        throw new InvalidOperationException("Teleport.sln not found above the test assembly");
    }

    private static (int Code, string Output) Compose(params string[] args)
    {
        var compose = Environment.GetEnvironmentVariable("TELEPORT_DOCKER_COMPOSE")
            ?? throw new InvalidOperationException("TELEPORT_DOCKER_COMPOSE is not set: run the tests through infra/test.sh (it installs docker-compose).");
        var start = new ProcessStartInfo(compose) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-f");
        start.ArgumentList.Add(RepositoryFile("docker-compose.yml"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["TELEPORT_RABBITMQ_PASSWORD"] = "check-only";
        start.Environment["TELEPORT_POSTGRES_PASSWORD"] = "check-only";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result + error);
    }

    [Fact]
    public void The_compose_file_is_valid()
    {
        var (code, output) = Compose("config");

        Assert.True(code == 0, output);
        Assert.Contains("rabbitmq", output);
        Assert.Contains("postgres", output);
    }

    [Fact]
    public void Servers_are_published_on_loopback_only()
    {
        var (code, output) = Compose("config");

        Assert.Equal(0, code);
        Assert.DoesNotContain("0.0.0.0", output);
        Assert.Contains("127.0.0.1", output);
    }
}
