using System.Net;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport orchestrator --http-listen` on RabbitMQ: /metrics counts a migration it drove and its state in the saga
/// store, the web dashboard is served beside it; /readyz turns not ready when the broker goes away (a proxy in front
/// of it is cut) and ready when it is back.
/// </summary>
[Collection(OrchestratorCollection.Name)]
public sealed class OrchestratorHttpTests
{
    [Fact]
    public async Task Metrics_count_a_migration_and_readiness_follows_the_broker()
    {
        var broker = TestBroker.Uri;
        await using var proxy = CuttableRelay.Start(new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Loopback, broker.Port));
        string bus = new UriBuilder(broker) { Port = ((IPEndPoint)proxy.EndPoint).Port }.Uri.ToString();
        int http = FreePort.Next();
        await using var bed = await OrchestratorTestBed.StartAsync("sqlite", http: (bus, $"127.0.0.1:{http}"));
        var never = new TaskCompletionSource().Task;

        string ready = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, never);
        Assert.Contains("\"database\"", ready);
        Assert.Contains("\"masstransit-bus\"", ready);

        var (run, id) = await bed.MigrateAndWait("metrics");
        Assert.True(run.ExitCode == 0, run.Stderr + bed.OrchestratorErr);
        await bed.WaitForState(id, "Succeeded");
        string metrics = await RoleHttp.WaitForAsync(http, "/metrics", HttpStatusCode.OK, never,
            m => m.Contains("teleport_migrations_current{", StringComparison.Ordinal));
        Assert.Equal(1, StorageHttpTests.Series(metrics, "teleport_migrations_current", "teleport_migration_state=\"Succeeded\""));
        // At least: an in-process demo test may run migrations of its own meanwhile.
        Assert.True(StorageHttpTests.Series(metrics, "teleport_migrations_started_total", "attempt=\"first\"") >= 1, metrics);
        Assert.Contains("teleport_migrations_succeeded_total", metrics);
        Assert.Contains("teleport_migration_duration_seconds_count", metrics);
        Assert.Contains("teleport_migration_bytes_on_wire_bytes_count", metrics);

        // The web dashboard is on the same listener: its page, and this migration in its JSON.
        var (pageStatus, page) = await RoleHttp.GetAsync(http, "/");
        Assert.Equal(HttpStatusCode.OK, pageStatus);
        Assert.Contains("<html", page, StringComparison.OrdinalIgnoreCase);
        var (listStatus, list) = await RoleHttp.GetAsync(http, "/api/migrations");
        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Contains(id.ToString(), list, StringComparison.OrdinalIgnoreCase);

        proxy.Cut();
        string down = await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.ServiceUnavailable, never);
        Assert.Contains("\"masstransit-bus\"", down);
        Assert.Equal(HttpStatusCode.OK, (await RoleHttp.GetAsync(http, "/healthz")).Status);
        proxy.Restore();
        await RoleHttp.WaitForAsync(http, "/readyz", HttpStatusCode.OK, never, seconds: 120);
    }
}
