using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Teleport.Messaging.Http;

namespace Teleport.Orchestrator.Dashboard;

/// <summary>
/// The orchestrator's web dashboard on the role's HTTP listener: the page at <c>/</c> (embedded assets), the read
/// API <c>GET /api/migrations</c>, live updates as Server-Sent Events on <c>GET /api/migrations/stream</c>, and the
/// operator's <c>POST /api/migrations/{id}/retry|cancel</c> (<see cref="DashboardActions"/>).
/// </summary>
/// <remarks>
/// Server-Sent Events rather than polling: one long-lived response per page instead of a request per second, an
/// event only when something changed, and the browser's EventSource reconnects by itself.
/// </remarks>
public sealed class DashboardEndpoints(MigrationBoard board, DashboardActions actions) : IHttpEndpoints
{
    /// <summary>Pages watching at once; one more gets 503 (each holds one of the listener's 64 connections open).</summary>
    public const int MaxStreams = 32;

    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);
    private int _streams;

    public void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Asset("index.html", "text/html; charset=utf-8"));
        endpoints.MapGet("/dashboard.js", () => Asset("dashboard.js", "text/javascript; charset=utf-8"));
        endpoints.MapGet("/dashboard.css", () => Asset("dashboard.css", "text/css; charset=utf-8"));
        endpoints.MapGet("/api/migrations", async (CancellationToken ct) => Results.Text(await board.JsonAsync(ct), "application/json", Encoding.UTF8));
        endpoints.MapGet("/api/migrations/stream", StreamAsync);
        endpoints.MapGet("/api/session", actions.Session);
        endpoints.MapPost("/api/migrations/{id}/retry", actions.RetryAsync);
        endpoints.MapPost("/api/migrations/{id}/cancel", actions.CancelAsync);
    }

    private static IResult Asset(string name, string contentType)
    {
        var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Teleport.Dashboard." + name)
                     ?? throw new InvalidOperationException($"the dashboard asset {name} is not embedded");
        return Results.Stream(stream, contentType);
    }

    // Sends the migrations whenever they changed since the last event, and a comment now and then so proxies keep it open.
    private async Task StreamAsync(HttpContext http)
    {
        if (Interlocked.Increment(ref _streams) > MaxStreams)
        {
            Interlocked.Decrement(ref _streams);
            http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        try
        {
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            var ct = http.RequestAborted;
            string? sent = null;
            var quietSince = DateTimeOffset.UtcNow;
            while (!ct.IsCancellationRequested)
            {
                string json = await board.JsonAsync(ct);
                if (json != sent)
                {
                    await http.Response.WriteAsync($"data: {json}\n\n", ct);
                    (sent, quietSince) = (json, DateTimeOffset.UtcNow);
                }
                else if (DateTimeOffset.UtcNow - quietSince > KeepAlive)
                {
                    await http.Response.WriteAsync(": keep-alive\n\n", ct);
                    quietSince = DateTimeOffset.UtcNow;
                }

                await http.Response.Body.FlushAsync(ct);
                await Task.Delay(MigrationBoard.RefreshInterval, ct);
            }
        }
        catch (OperationCanceledException)
        {
            // The page went away.
        }
        finally
        {
            Interlocked.Decrement(ref _streams);
        }
    }
}
