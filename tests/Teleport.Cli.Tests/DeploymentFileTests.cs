using System.Diagnostics;
using System.Text.Json;

namespace Teleport.Cli.Tests;

/// <summary>
/// docker-compose.yml and the Dockerfile are for users; no Docker engine runs here, so the compose file is checked
/// with `docker-compose config` (which validates it and prints it resolved) and its content is asserted on that
/// resolved form, converted to JSON by Debian's python3-yaml (both from infra/test.d/60-compose.sh).
/// </summary>
public sealed class DeploymentFileTests
{
    private static readonly string[] Servers = ["rabbitmq", "postgres"];
    private static readonly string[] Monitoring = ["prometheus", "grafana"];
    private static readonly string[] Roles = ["orchestrator", "storage", "host", "operator"];
    private static readonly string[] TeleportServices = ["storage-a", "storage-b", "host-1", "orchestrator"];

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Teleport.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Teleport.sln not found above the test assembly");
    }

    internal static string Tool(string variable) =>
        Environment.GetEnvironmentVariable(variable)
        ?? throw new InvalidOperationException($"{variable} is not set: run the tests through infra/test.sh (infra/test.d/60-compose.sh sets it).");

    internal static (int Code, string Stdout, string Stderr) Run(string file, IEnumerable<string> args, string? stdin = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    private static (int Code, string Stdout, string Stderr) Compose(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        Run(Tool("TELEPORT_DOCKER_COMPOSE"), ["-f", Path.Combine(RepositoryRoot(), "docker-compose.yml"), .. args], environment: environment);

    private static readonly Dictionary<string, string?> Secrets = new()
    {
        ["TELEPORT_RABBITMQ_PASSWORD"] = "check-only-mq",
        ["TELEPORT_POSTGRES_PASSWORD"] = "check-only-pg",
        ["TELEPORT_GRAFANA_PASSWORD"] = "check-only-grafana",
        ["TELEPORT_BUS_PASSWORD_ORCHESTRATOR"] = "check-only-orchestrator",
        ["TELEPORT_BUS_PASSWORD_STORAGE"] = "check-only-storage",
        ["TELEPORT_BUS_PASSWORD_HOST"] = "check-only-host",
        ["TELEPORT_BUS_PASSWORD_OPERATOR"] = "check-only-operator",
    };

    /// <summary>`docker-compose config` with the required secrets set, as a JSON document.</summary>
    internal static JsonElement Config()
    {
        var (code, yaml, error) = Compose(Secrets, "config");
        Assert.True(code == 0, $"docker-compose config failed (exit {code}): {error}");
        var (jcode, json, jerror) = Run(Tool("TELEPORT_YAML_PYTHON"),
            ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"], yaml);
        Assert.True(jcode == 0, $"converting the resolved compose file to JSON failed: {jerror}");
        return JsonDocument.Parse(json).RootElement;
    }

    internal static JsonElement Service(JsonElement config, string name) =>
        config.GetProperty("services").TryGetProperty(name, out var service)
            ? service
            : throw new Xunit.Sdk.XunitException($"docker-compose.yml has no service '{name}'");

    internal static string[] Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToArray();

    [Fact]
    public void The_compose_file_is_valid_and_has_every_role()
    {
        string[] services = Config().GetProperty("services").EnumerateObject().Select(p => p.Name).Order().ToArray();

        Assert.Equal(Servers.Concat(Monitoring).Concat(TeleportServices).Append("bus-users").Order().ToArray(), services);
    }

    [Theory]
    [InlineData("TELEPORT_RABBITMQ_PASSWORD")]
    [InlineData("TELEPORT_POSTGRES_PASSWORD")]
    [InlineData("TELEPORT_GRAFANA_PASSWORD")]
    [InlineData("TELEPORT_BUS_PASSWORD_ORCHESTRATOR")]
    [InlineData("TELEPORT_BUS_PASSWORD_STORAGE")]
    [InlineData("TELEPORT_BUS_PASSWORD_HOST")]
    [InlineData("TELEPORT_BUS_PASSWORD_OPERATOR")]
    public void A_missing_secret_is_refused_with_its_name(string secret)
    {
        var environment = new Dictionary<string, string?>(Secrets) { [secret] = null };

        var (code, _, error) = Compose(environment, "config");

        Assert.NotEqual(0, code);
        Assert.Contains($"set {secret}", error);
    }

    [Fact]
    public void Every_Teleport_service_builds_from_the_one_Dockerfile()
    {
        var config = Config();
        string root = RepositoryRoot();

        foreach (string name in TeleportServices)
        {
            var build = Service(config, name).GetProperty("build");
            Assert.Equal(root, Path.GetFullPath(build.GetProperty("context").GetString()!).TrimEnd('/'));
            Assert.Equal("Dockerfile", build.GetProperty("dockerfile").GetString());
        }
        string?[] images = TeleportServices.Select(n => Service(config, n).GetProperty("image").GetString()).Distinct().ToArray();
        Assert.Single(images);
        foreach (string name in Servers)
            Assert.False(Service(config, name).TryGetProperty("build", out _), $"{name} runs its upstream image, not a build");
    }

    [Fact]
    public void No_port_is_published_beyond_loopback()
    {
        var config = Config();
        int published = 0;

        foreach (var service in config.GetProperty("services").EnumerateObject())
        {
            if (!service.Value.TryGetProperty("ports", out var ports))
                continue;
            foreach (var port in ports.EnumerateArray())
            {
                // The short form "IP:HOST:CONTAINER[/proto]" or the long form with host_ip.
                string? hostIp = port.ValueKind == JsonValueKind.String
                    ? port.GetString()!.Split(':') is { Length: 3 } parts ? parts[0] : ""
                    : port.TryGetProperty("host_ip", out var ip) ? ip.GetString() : "";
                Assert.True(hostIp == "127.0.0.1", $"{service.Name} publishes {port} beyond 127.0.0.1");
                published++;
            }
        }
        Assert.True(published >= 4, "the broker, its UI, PostgreSQL and the NBD ports are published on loopback");
    }

    [Fact]
    public void Prometheus_scrapes_every_role_and_grafana_is_provisioned_with_it()
    {
        var config = Config();
        string prometheusFile = File.ReadAllText(Path.Combine(RepositoryRoot(), "infra", "prometheus", "prometheus.yml"));

        foreach (string name in TeleportServices)
        {
            var environment = Service(config, name).GetProperty("environment");
            var listen = environment.EnumerateObject().Single(p => p.Name.EndsWith("__HTTPLISTEN", StringComparison.Ordinal));
            Assert.Equal("0.0.0.0:9464", listen.Value.GetString());
            Assert.Contains($"\"{name}:9464\"", prometheusFile);
        }
        string[] prometheus = Strings(Service(config, "prometheus").GetProperty("volumes"));
        Assert.Contains(prometheus, v => v.Contains("infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml", StringComparison.Ordinal));
        Assert.Contains(prometheus, v => v.Contains("infra/prometheus/alerts.yml:/etc/prometheus/alerts.yml", StringComparison.Ordinal));
        string[] grafana = Strings(Service(config, "grafana").GetProperty("volumes"));
        Assert.Contains(grafana, v => v.Contains("infra/grafana/provisioning:/etc/grafana/provisioning", StringComparison.Ordinal));
        Assert.Contains(grafana, v => v.Contains("infra/grafana/dashboards:/etc/teleport/grafana-dashboards", StringComparison.Ordinal));
        Assert.Contains("/etc/teleport/grafana-dashboards", File.ReadAllText(Path.Combine(RepositoryRoot(), "infra", "grafana", "provisioning", "dashboards", "teleport.yml")));
        Assert.Contains("http://prometheus:9090", File.ReadAllText(Path.Combine(RepositoryRoot(), "infra", "grafana", "provisioning", "datasources", "prometheus.yml")));
    }

    [Fact]
    public void Teleport_services_run_commands_teleport_knows()
    {
        var config = Config();

        foreach (string name in TeleportServices)
        {
            string[] command = Strings(Service(config, name).GetProperty("command"));
            Assert.NotEmpty(command);
            // The command exists (its help exits 0) and every flag the service passes is one of its options.
            var run = CliRun.Of(command[0], "--help");
            Assert.True(run.ExitCode == 0, $"{name}: `teleport {command[0]} --help` exit {run.ExitCode}: {run.Stderr}{run.Stdout}");
            // Help goes to the UI console (stderr: stdout carries results only).
            string help = run.Stdout + run.Stderr;
            Assert.Contains("OPTIONS:", help);
            foreach (string? flag in command.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
                Assert.True(help.Contains($" {flag} ", StringComparison.Ordinal), $"{name}: `teleport {command[0]}` has no option {flag}:\n{help}");
        }
        string[] commands = TeleportServices.Select(n => Strings(Service(config, n).GetProperty("command"))[0]).Order().ToArray();
        Assert.Equal(["host", "orchestrator", "storage", "storage"], commands);
    }

    [Fact]
    public void Services_start_in_order_and_have_health_checks()
    {
        var config = Config();

        foreach (string? name in Servers.Append("storage-a").Append("storage-b"))
            Assert.True(Service(config, name).TryGetProperty("healthcheck", out var check) && check.GetProperty("test").GetArrayLength() > 0,
                $"{name} has no healthcheck");
        // The role users exist before any role logs in: bus-users runs once the broker is healthy.
        Assert.Equal("service_healthy", Service(config, "bus-users").GetProperty("depends_on").GetProperty("rabbitmq").GetProperty("condition").GetString());
        foreach (string name in TeleportServices)
        {
            var dependsOn = Service(config, name).GetProperty("depends_on");
            Assert.Equal("service_completed_successfully", dependsOn.GetProperty("bus-users").GetProperty("condition").GetString());
        }
        Assert.Equal("service_healthy", Service(config, "orchestrator").GetProperty("depends_on").GetProperty("postgres").GetProperty("condition").GetString());
        Assert.Equal("service_healthy", Service(config, "host-1").GetProperty("depends_on").GetProperty("storage-a").GetProperty("condition").GetString());
    }

    [Fact]
    public void Secrets_reach_the_Teleport_services_only_through_the_environment()
    {
        var config = Config();

        var orchestrator = Service(config, "orchestrator").GetProperty("environment");
        // Each role logs in as its own broker user (docs/security.md "Bus"), never as the broker's admin.
        Assert.Equal(Bus("orchestrator"), orchestrator.GetProperty("TELEPORT_ORCHESTRATOR__BUS").GetString());
        Assert.Equal(Bus("operator"), orchestrator.GetProperty("TELEPORT_BUS").GetString());
        Assert.Contains("Password=check-only-pg", orchestrator.GetProperty("TELEPORT_ORCHESTRATOR__DATABASE").GetString());
        foreach (string storage in new[] { "storage-a", "storage-b" })
            Assert.Equal(Bus("storage"), Service(config, storage).GetProperty("environment").GetProperty("TELEPORT_STORAGE__BUS").GetString());
        Assert.Equal(Bus("host"), Service(config, "host-1").GetProperty("environment").GetProperty("TELEPORT_HOST__BUS").GetString());
        var users = Service(config, "bus-users").GetProperty("environment");
        foreach (string role in Roles)
            Assert.Equal($"check-only-{role}", users.GetProperty($"TELEPORT_BUS_PASSWORD_{role.ToUpperInvariant()}").GetString());
        string file = File.ReadAllText(Path.Combine(RepositoryRoot(), "docker-compose.yml"));
        Assert.DoesNotContain("check-only", file);
        Assert.Equal("check-only-grafana", Service(config, "grafana").GetProperty("environment").GetProperty("GF_SECURITY_ADMIN_PASSWORD").GetString());
    }

    // amqps to the compose broker, its certificate checked against the bus CA infra/compose-certs.sh made.
    private static string Bus(string role) => $"amqps://teleport-{role}:check-only-{role}@rabbitmq:5671/?ca=/etc/teleport/bus/ca-cert.pem";

    [Fact]
    public void The_host_switches_only_to_storages_it_lists_by_id()
    {
        var environment = Service(Config(), "host-1").GetProperty("environment");

        foreach (string storage in new[] { "storage-a", "storage-b" })
            Assert.Equal($"{storage}:10809", environment.GetProperty($"TELEPORT_HOST__STORAGES__{storage}__NBD").GetString());
    }

    [Fact]
    public void Stateful_services_keep_their_data_in_named_volumes()
    {
        var config = Config();
        var declared = config.GetProperty("volumes").EnumerateObject().Select(p => p.Name).ToHashSet();
        string root = RepositoryRoot();

        foreach (string? name in new[] { "rabbitmq", "postgres", "storage-a", "storage-b", "host-1" })
        {
            string[] volumes = Strings(Service(config, name).GetProperty("volumes"));
            Assert.Contains(volumes, v => declared.Contains(v.Split(':')[0]));
            // Anything else is configuration or credentials from the repository, mounted read-only.
            foreach (string volume in volumes.Where(v => !declared.Contains(v.Split(':')[0])))
            {
                Assert.True(volume.EndsWith(":ro", StringComparison.Ordinal), $"{name} mounts '{volume}' writable, not as a named volume");
                Assert.StartsWith(root + "/", volume);
            }
        }
    }

    [Fact]
    public void The_Dockerfile_builds_with_the_sdk_and_runs_teleport_on_the_runtime()
    {
        string root = RepositoryRoot();
        string[] lines = File.ReadAllLines(Path.Combine(root, "Dockerfile")).Select(l => l.Trim()).ToArray();

        string[] stages = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, stages.Length);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0", stages[0]);
        Assert.Matches("^FROM mcr.microsoft.com/dotnet/(runtime|runtime-deps):10.0$", stages[1]);
        Assert.Contains("ENTRYPOINT [\"/app/teleport\"]", lines);
        Assert.Contains("USER app", lines);
        // The restore layer copies every project file first: a project missing there fails the image build.
        int restore = Array.FindIndex(lines, l => l.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.True(restore > 0, "the Dockerfile has no `RUN dotnet restore` step");
        string[] copied = lines[..restore].Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)).ToArray();
        var projects = Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(root, "contracts"), "*.csproj", SearchOption.AllDirectories))
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/'));
        foreach (string? project in projects)
            Assert.True(copied.Any(c => c.Contains(project, StringComparison.Ordinal)), $"the Dockerfile does not copy {project} before restoring");

        // The image ships the binary the benchmarks measure (infra/publish.sh): ReadyToRun, restored for it too.
        string[] instructions = File.ReadAllText(Path.Combine(root, "Dockerfile")).Replace("\\\n", " ").Split('\n');
        string publish = Assert.Single(instructions, l => l.StartsWith("RUN ", StringComparison.Ordinal) && l.Contains("dotnet publish", StringComparison.Ordinal));
        string publishScript = File.ReadAllText(Path.Combine(root, "infra", "publish.sh"));
        foreach (string? flag in new[] { "-p:PublishReadyToRun=true", "--self-contained false" })
        {
            Assert.Contains(flag, publish);
            Assert.Contains(flag, publishScript);
        }

        string restoreStep = Assert.Single(instructions, l => l.StartsWith("RUN ", StringComparison.Ordinal) && l.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.Contains("-p:PublishReadyToRun=true", restoreStep);
        // The legacy builder (docker-compose 1.x) leaves TARGETARCH empty: both steps fall back to the stage's own architecture.
        foreach (string? step in new[] { restoreStep, publish })
            Assert.Contains("${TARGETARCH:-$(dpkg --print-architecture)}", step);
    }
}
