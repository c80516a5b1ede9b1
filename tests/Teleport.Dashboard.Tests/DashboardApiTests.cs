using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Orchestrator;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Dashboard.Tests;

/// <summary>
/// The dashboard's API on a real orchestrator (saga on PostgreSQL, bus on the real RabbitMQ) with an operator token:
/// the read API shows the saga rows without their secrets; actions are refused without the token, with a wrong one and
/// for a migration in no state for them, leaving the row as it was; with the token they reach the saga.
/// </summary>
public sealed class DashboardApiTests : IAsyncLifetime
{
    private const string Token = "op-token-for-the-dashboard-tests";
    private PostgresDatabase _database = null!;
    private OrchestratorNode _orchestrator = null!;
    private DashboardServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _database = await PostgresDatabase.CreateAsync();
        string directory = Directory.CreateTempSubdirectory("tpd").FullName;
        _orchestrator = await OrchestratorNode.StartAsync(directory, configure: o => (o.Database, o.OperatorToken) = (_database.ConnectionString, Token));
        _server = await DashboardServer.StartAsync(_orchestrator.Services);
        _http = new HttpClient { BaseAddress = _server.Address };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        await _orchestrator.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task ReadApi_ShowsTheRowsFiguresAndRounds_ButNeverItsSecretOrEndpoints()
    {
        var row = await InsertAsync("Copying", run =>
        {
            (run.Secret, run.DataEndpoint, run.VolumeBytes, run.BytesOnWire) = ("sekrit-of-the-channel", "10.9.8.7:7000", 64 << 20, 16 << 20);
            run.Record(new Contracts.CopyRoundCompleted(Guid.Empty, 1, 100, 16 << 20, 42, 1e6, DateTimeOffset.UtcNow));
        });

        string json = await _http.GetStringAsync("api/migrations");
        Assert.DoesNotContain("sekrit-of-the-channel", json);
        Assert.DoesNotContain("10.9.8.7", json);
        var shown = JsonDocument.Parse(json).RootElement.EnumerateArray().Single(m => m.GetProperty("id").GetGuid() == row);
        Assert.Equal("Copying", shown.GetProperty("state").GetString());
        Assert.Equal(64.0 / 32, shown.GetProperty("figures").GetProperty("dedupRatio").GetDouble());
        var round = Assert.Single(shown.GetProperty("roundPoints").EnumerateArray());
        Assert.Equal(42, round.GetProperty("dirtyBlocks").GetInt64());
        Assert.Contains("text/html", (await _http.GetAsync("")).Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task Actions_WithoutTheRightBearerToken_AreRefusedWith401_AndTheSagaIsUntouched()
    {
        var id = await InsertAsync("Copying");
        foreach (var header in new AuthenticationHeaderValue?[] { null, new("Bearer", "wrong"), new("Basic", Token), new("Bearer", Token + "x") })
        {
            foreach (string action in new[] { "retry", "cancel" })
            {
                var response = await PostAsync($"api/migrations/{id}/{action}", header);
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            }
        }

        var session = await _http.GetFromJsonAsync<JsonElement>("api/session");
        Assert.True(session.GetProperty("actions").GetBoolean());
        Assert.False(session.GetProperty("authorized").GetBoolean());
        await Task.Delay(TimeSpan.FromSeconds(1)); // a command that slipped through would have reached the saga by now
        var row = await ReadAsync(id);
        Assert.Equal(("Copying", 1, null), (row.CurrentState, row.Version, row.Run.FailureReason));
    }

    [Fact]
    public async Task Actions_WithTheToken_RefuseBadIdsUnknownMigrationsWrongStatesAndOverlongReasons()
    {
        var auth = new AuthenticationHeaderValue("Bearer", Token);
        var running = await InsertAsync("Copying");
        var failed = await InsertAsync("Failed", run => run.RollbackIncomplete = true);
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("api/migrations/not-a-guid/retry", auth)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await PostAsync($"api/migrations/{Guid.NewGuid()}/cancel", auth)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await PostAsync($"api/migrations/{running}/retry", auth)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await PostAsync($"api/migrations/{failed}/cancel", auth)).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await PostAsync($"api/migrations/{failed}/retry", auth)).StatusCode);
        var overlong = await PostAsync($"api/migrations/{running}/cancel", auth, new string('r', DashboardActionsLimit + 1));
        Assert.Equal(HttpStatusCode.BadRequest, overlong.StatusCode);
        Assert.Contains("reason", await overlong.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync($"api/migrations/{running}/cancel", auth, "{not json", raw: true)).StatusCode);

        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(("Copying", 1), ((await ReadAsync(running)).CurrentState, (await ReadAsync(running)).Version));
        Assert.Equal(("Failed", 1), ((await ReadAsync(failed)).CurrentState, (await ReadAsync(failed)).Version));
    }

    [Fact]
    public async Task CancelAndRetry_WithTheToken_ReachTheSaga_AsTheCliCommandsDo()
    {
        var auth = new AuthenticationHeaderValue("Bearer", Token);
        var running = await InsertAsync("Copying");
        var cancel = await PostAsync($"api/migrations/{running}/cancel", auth, "operator saw a problem");
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var cancelled = await WaitForAsync(running, r => r.Run.FailureReason is not null);
        Assert.Equal("cancelled: operator saw a problem", cancelled.Run.FailureReason);

        var failed = await InsertAsync("Failed");
        Assert.Equal(HttpStatusCode.Accepted, (await PostAsync($"api/migrations/{failed}/retry", auth)).StatusCode);
        var retried = await WaitForAsync(failed, r => r.Attempt == 2);
        Assert.Equal("Preparing", retried.CurrentState);
    }

    private const int DashboardActionsLimit = Orchestrator.Dashboard.DashboardActions.MaxReasonLength;

    private Task<HttpResponseMessage> PostAsync(string path, AuthenticationHeaderValue? auth, string? reason = null, bool raw = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Headers = { Authorization = auth } };
        if (reason is not null)
            request.Content = raw ? new StringContent(reason, null, "application/json") : JsonContent.Create(new { reason });
        return _http.SendAsync(request);
    }

    // A saga row as the saga would have left it in this state, with storage ids no worker serves.
    private async Task<Guid> InsertAsync(string state, Action<MigrationAttempt>? run = null)
    {
        var row = new MigrationState { CorrelationId = Guid.NewGuid(), CurrentState = state, RequestedAt = DateTimeOffset.UtcNow };
        string suffix = row.CorrelationId.ToString("N")[..8];
        row.Accept(new Contracts.MigrationRequested(row.CorrelationId, "vm-d", "vol-d", $"src-{suffix}", $"dst-{suffix}", $"host-{suffix}", new Contracts.MigrationOptions(), DateTimeOffset.UtcNow));
        row.Phase = state == "Failed" ? Contracts.MigrationPhases.Failed : Contracts.MigrationPhases.Copy;
        if (state == "Failed")
            row.BeginFailure("an earlier failure", DateTimeOffset.UtcNow);
        run?.Invoke(row.Run);
        await using var db = await Database().OpenAsync(CancellationToken.None);
        db.Migrations.Add(row);
        await db.SaveChangesAsync();
        return row.CorrelationId;
    }

    private async Task<MigrationState> ReadAsync(Guid id)
    {
        await using var db = await Database().OpenAsync(CancellationToken.None);
        return await db.Migrations.AsNoTracking().SingleAsync(m => m.CorrelationId == id);
    }

    private async Task<MigrationState> WaitForAsync(Guid id, Func<MigrationState, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var row = await ReadAsync(id);
            if (condition(row))
                return row;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"migration {id} is {row.CurrentState} (reason {row.Run.FailureReason}, attempt {row.Attempt}) after 30 s");
            await Task.Delay(100);
        }
    }

    private OrchestratorDatabase Database() => new(_database.ConnectionString);
}
