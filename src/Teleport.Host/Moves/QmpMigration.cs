using System.Text.Json;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;

namespace Teleport.Host.Moves;

/// <summary>QEMU's migration commands over QMP, as both ends of a whole-VM move use them (qapi/migration.json).</summary>
internal static class QmpMigration
{
    /// <summary>
    /// Whether post-copy may end this migration: on unless asked off, and never with multifd (QEMU 7.2 accepts both
    /// capabilities, but its incoming side then aborts when post-copy starts).
    /// </summary>
    public static bool PostCopyAllowed(MemoryMigrationOptions? options) => options?.PostCopy ?? options?.Multifd != true;

    /// <summary>What the options ask that no QEMU here can do (null: nothing).</summary>
    public static string? OptionsProblem(MemoryMigrationOptions? options) =>
        options is { PostCopy: true, Multifd: true } ? "post-copy and multifd cannot be combined (QEMU's incoming side aborts)" : null;

    /// <summary>Sets the capabilities both ends must agree on (multifd, postcopy-ram), plus the source's when <paramref name="source"/>.</summary>
    public static Task SetCapabilitiesAsync(QmpClient qmp, bool source, MemoryMigrationOptions? options, CancellationToken cancellationToken)
    {
        var capabilities = new List<Dictionary<string, object?>>
        {
            new() { ["capability"] = "events", ["state"] = true },
            new() { ["capability"] = "multifd", ["state"] = options?.Multifd == true },
            new() { ["capability"] = "postcopy-ram", ["state"] = PostCopyAllowed(options) },
        };
        if (source)
            capabilities.Add(new() { ["capability"] = "pause-before-switchover", ["state"] = true });
        return qmp.ExecuteAsync("migrate-set-capabilities", new Dictionary<string, object?> { ["capabilities"] = capabilities }, cancellationToken);
    }

    /// <summary>
    /// Multifd channels and zstd (both ends). QEMU's own TLS stays off: its stream only crosses this host's Unix socket
    /// to the memory relay, which carries it over the WAN (with TLS when configured; never encrypted twice).
    /// </summary>
    public static Task SetStreamParametersAsync(QmpClient qmp, MemoryMigrationOptions? options, CancellationToken cancellationToken)
    {
        var parameters = new Dictionary<string, object?> { ["tls-creds"] = "" };
        if (options?.Multifd == true)
        {
            parameters["multifd-channels"] = options.MultifdChannels ?? 4;
            parameters["multifd-compression"] = "zstd";
        }

        return qmp.ExecuteAsync("migrate-set-parameters", parameters, cancellationToken);
    }

    /// <summary>The source's bandwidth cap (none: unlimited in practice; post-copy's too) and downtime limit.</summary>
    public static Task SetLimitsAsync(QmpClient qmp, long? bandwidth, int? downtimeLimitMilliseconds, CancellationToken cancellationToken) =>
        qmp.ExecuteAsync("migrate-set-parameters", new Dictionary<string, object?>
        {
            ["max-bandwidth"] = bandwidth is > 0 ? bandwidth.Value : 1L << 40,
            ["max-postcopy-bandwidth"] = bandwidth is > 0 ? bandwidth.Value : 0L,
            ["downtime-limit"] = downtimeLimitMilliseconds is > 0 ? downtimeLimitMilliseconds.Value : 300,
        }, cancellationToken);

    public static async Task<MigrationState> QueryAsync(QmpClient qmp, CancellationToken cancellationToken) =>
        MigrationState.From(await qmp.ExecuteAsync("query-migrate", null, cancellationToken).ConfigureAwait(false));
}

/// <summary>The figures of one query-migrate.</summary>
internal sealed record MigrationState(string Status, long Transferred, long Remaining, long Total, long DirtyPagesRate,
    long ExpectedDowntime, long? Downtime, string? Error, long DirtySyncCount = 0, long PostCopyBytes = 0)
{
    public bool IsOver => Status is "completed" or "failed" or "cancelled";

    /// <summary>QEMU's post-copy runs (or waits for a broken link): the destination holds the VM, the source the rest of its memory.</summary>
    public bool IsPostCopy => Status is "postcopy-active" or "postcopy-paused" or "postcopy-recover";

    public static MigrationState From(JsonElement reply)
    {
        if (reply.ValueKind != JsonValueKind.Object)
            return new MigrationState("none", 0, 0, 0, 0, 0, null, null);
        string status = reply.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "none";
        var ram = reply.TryGetProperty("ram", out var r) && r.ValueKind == JsonValueKind.Object ? r : default;
        return new MigrationState(status, Number(ram, "transferred"), Number(ram, "remaining"), Number(ram, "total"),
            Number(ram, "dirty-pages-rate"), Number(reply, "expected-downtime"),
            reply.TryGetProperty("downtime", out var d) && d.TryGetInt64(out long downtime) ? downtime : null,
            reply.TryGetProperty("error-desc", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null,
            Number(ram, "dirty-sync-count"), Number(ram, "postcopy-bytes"));
    }

    private static long Number(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.TryGetInt64(out long number) ? number : 0;
}
