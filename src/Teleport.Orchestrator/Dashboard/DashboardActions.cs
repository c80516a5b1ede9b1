using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Contracts;

namespace Teleport.Orchestrator.Dashboard;

/// <summary>
/// The dashboard's retry and cancel: the same RetryMigration / CancelMigration that <c>teleport migrations
/// retry/cancel</c> send to the orchestrators' queue, refused (403) without a configured operator token, (401)
/// without the right bearer token, and (409) for a migration in no state for them, as the CLI refuses them.
/// </summary>
public sealed class DashboardActions(OperatorToken token, MigrationBoard board, OrchestratorOptions options, IServiceProvider services)
{
    public const int MaxReasonLength = 500;
    private const int MaxBodyBytes = 4096;

    public Task<IResult> RetryAsync(HttpContext http, string id) =>
        ActAsync(http, id, row =>
            row.CurrentState != "Failed" ? $"migration {row.CorrelationId} is {row.CurrentState}: only a Failed migration can be retried"
            : row.Run.RollbackIncomplete ? $"migration {row.CorrelationId} failed with an incomplete rollback: check the VM and the destination first"
            : null,
            (guid, _) => Task.FromResult<object>(new RetryMigration(guid)));

    public Task<IResult> CancelAsync(HttpContext http, string id) =>
        ActAsync(http, id, row =>
            row.CurrentState is "Succeeded" or "Failed" ? $"migration {row.CorrelationId} is already {row.CurrentState}: nothing to cancel" : null,
            async (guid, request) => new CancelMigration(guid, await ReasonAsync(request)));

    /// <summary>Whether actions are on, and whether this request's token authorises them (the page offers buttons only then).</summary>
    public IResult Session(HttpContext http) =>
        Results.Json(new { actions = token.Enabled, authorized = token.Authorises(http.Request) }, MigrationBoard.Json);

    // Authorisation comes first: nothing of the request (its id, its body) is looked at before it.
    private async Task<IResult> ActAsync(HttpContext http, string id, Func<MigrationState, string?> refusal, Func<Guid, HttpRequest, Task<object>> message)
    {
        if (!token.Enabled)
            return Error(StatusCodes.Status403Forbidden, "actions are off: no Orchestrator:OperatorToken is configured");
        if (!token.Authorises(http.Request))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Error(StatusCodes.Status401Unauthorized, "the operator token is missing or wrong");
        }

        if (!Guid.TryParse(id, out var guid))
            return Error(StatusCodes.Status400BadRequest, $"'{Truncate(id)}' is not a migration id");
        var row = await board.FindAsync(guid, http.RequestAborted);
        if (row is null)
            return Error(StatusCodes.Status404NotFound, $"no migration {guid}");
        if (refusal(row) is { } problem)
            return Error(StatusCodes.Status409Conflict, problem);
        object command;
        try
        {
            command = await message(guid, http.Request);
        }
        catch (BadHttpRequestException e)
        {
            return Error(StatusCodes.Status400BadRequest, e.Message);
        }

        var endpoint = await services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"queue:{options.QueueName}"));
        await endpoint.Send(command, command.GetType(), http.RequestAborted);
        return Results.Json(new { sent = command.GetType().Name, migrationId = guid }, MigrationBoard.Json, statusCode: StatusCodes.Status202Accepted);
    }

    // The reason comes from an optional JSON body {"reason": "..."}, read up to a few kilobytes (chunked or not).
    private static async Task<string> ReasonAsync(HttpRequest request)
    {
        const string fallback = "cancelled from the dashboard";
        if (request.ContentLength > MaxBodyBytes)
            throw new BadHttpRequestException($"the body is over {MaxBodyBytes} bytes");
        byte[] buffer = new byte[MaxBodyBytes + 1];
        int length = 0, read;
        while (length < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(length), request.HttpContext.RequestAborted)) > 0)
            length += read;
        if (length > MaxBodyBytes)
            throw new BadHttpRequestException($"the body is over {MaxBodyBytes} bytes");
        if (length == 0)
            return fallback;
        try
        {
            string reason = JsonSerializer.Deserialize<CancelBody>(buffer.AsSpan(0, length), MigrationBoard.Json)?.Reason?.Trim() ?? "";
            return reason.Length switch
            {
                0 => fallback,
                > MaxReasonLength => throw new BadHttpRequestException($"the reason is over {MaxReasonLength} characters"),
                _ => reason,
            };
        }
        catch (JsonException e)
        {
            throw new BadHttpRequestException($"the body is not JSON of the form {{\"reason\": \"...\"}}: {e.Message}");
        }
    }

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, MigrationBoard.Json, statusCode: status);

    private static string Truncate(string text) => text.Length > 64 ? text[..64] + "..." : text;

    private sealed record CancelBody(string? Reason);
}
