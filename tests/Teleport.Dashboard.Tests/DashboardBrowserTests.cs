using System.Globalization;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Teleport.Orchestrator.Persistence;
using Xunit.Abstractions;

namespace Teleport.Dashboard.Tests;

/// <summary>
/// The dashboard in headless chromium while a real migration runs: storage workers, host worker, guest and the
/// orchestrator (saga on PostgreSQL) on the real RabbitMQ, the orchestrator's endpoints on a loopback listener.
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    private const ulong Run = 31;

    [Fact]
    public async Task AMigrationTheTestStarts_AppearsProgressesAndEndsSucceeded_OnTheReadOnlyPage()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using var world = await MigrationWorld.StartAsync(GuestWorkload.Writing(Run), orchestrator: o => o.Database = database.ConnectionString);
        await using var server = await DashboardServer.StartAsync(world.Orchestrator.Services);
        await using var browser = await Browser.LaunchAsync();
        var page = await browser.OpenAsync(server.Address);
        await Assertions.Expect(page.Locator("#live")).ToHaveTextAsync("live");
        await world.Guest.WaitForAsync(g => g.LastProgress >= 200, TimeSpan.FromSeconds(120), "the workload to reach record 200");

        // The cut-over waits until the page has shown the migration under way: on a quiet machine the whole move takes
        // about a second and the board reads the store once a second, so it could otherwise appear already ended.
        var underWay = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var hold = new BeforeFirstConsume<PauseVm>(world.Host.Services.GetRequiredService<IBus>(), async () =>
        {
            await underWay.Task.WaitAsync(TimeSpan.FromSeconds(60));
            return true;
        });
        var id = await world.RequestMigrationAsync();
        var card = page.Locator($"article[data-id='{id}']");
        var seen = await FollowAsync(card, TimeSpan.FromSeconds(180), underWay);
        output.WriteLine("seen on the page: " + string.Join(" | ", seen.Select(s => $"{s.State} {s.Progress:0.00}")));
        Assert.IsType<MigrationSucceeded>(await world.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(30)));

        // It appeared before it ended, its bar never went back, and it ended full. How many states and how much of the
        // bar the page catches in between depends on the migration's speed, so only the order is asserted.
        Assert.True(await hold.Done, "the cut-over waited for the page");
        Assert.Contains(seen, s => s.State is not "Succeeded");
        Assert.True(seen.Zip(seen.Skip(1)).All(pair => pair.First.Progress <= pair.Second.Progress), "the bar never went back");
        Assert.Equal(("Succeeded", 1.0), (seen[^1].State, seen[^1].Progress));

        // The figures are the saga's: one bar per recorded round, the bytes on the wire of the row.
        await using var db = await new OrchestratorDatabase(database.ConnectionString).OpenAsync(CancellationToken.None);
        var row = await db.Migrations.FindAsync(id);
        Assert.NotNull(row);
        Assert.True(row.Run.Rounds >= 1);
        Assert.Equal(row.Run.RoundPoints().Count, await card.Locator("svg.chart-dirty rect").CountAsync());
        await Assertions.Expect(card.Locator("[data-figure='Rounds']")).ToHaveTextAsync(row.Run.Rounds.ToString(CultureInfo.InvariantCulture));
        await Assertions.Expect(card.Locator("[data-figure='Downtime']")).Not.ToHaveTextAsync("–");

        // Read-only: no token is configured, so no action is offered and the API refuses them.
        Assert.Equal(0, await page.Locator("button[data-action]").CountAsync());
        Assert.True(await page.Locator("#operator").IsHiddenAsync());
        foreach (string action in new[] { "retry", "cancel" })
        {
            var response = await page.APIRequest.PostAsync(new Uri(server.Address, $"api/migrations/{id}/{action}").ToString());
            Assert.Equal(403, response.Status);
        }

        string screenshot = Path.Combine(AppContext.BaseDirectory, "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
    }

    // What the page shows for the migration, each time it changes, until it shows Succeeded or Failed; underWay is
    // set once it showed the migration in any other state.
    private static async Task<List<(string State, double Progress)>> FollowAsync(ILocator card, TimeSpan timeout, TaskCompletionSource underWay)
    {
        var seen = new List<(string State, double Progress)>();
        await Assertions.Expect(card).ToBeVisibleAsync(new LocatorAssertionsToBeVisibleOptions { Timeout = 60_000 });
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            string state = await card.GetAttributeAsync("data-state") ?? "";
            string progress = await card.Locator(".bar").GetAttributeAsync("data-progress") ?? "0";
            var now = (state, double.Parse(progress, CultureInfo.InvariantCulture));
            if (seen.Count == 0 || seen[^1] != now)
                seen.Add(now);
            if (state is not ("" or "Succeeded" or "Failed"))
                underWay.TrySetResult();
            if (state is "Succeeded" or "Failed")
                return seen;
            if (deadline.IsCancellationRequested)
                throw new TimeoutException($"the page still shows {state} after {timeout}");
            await Task.Delay(100);
        }
    }
}
