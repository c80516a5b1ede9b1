using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>The meter "Teleport.Orchestrator" counts what operators graph: starts, successes, failures by phase, dropped answers, nudges.</summary>
public sealed class MigrationMetricsTests
{
    [Fact]
    public async Task A_success_a_failure_a_retry_a_stale_answer_and_a_nudge_are_counted()
    {
        await using var host = await StartAsync();
        var metrics = host.Services.GetRequiredService<MigrationMetrics>();
        var measured = new ConcurrentQueue<(string Name, double Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measured.Enqueue((i.Name, v, Tags(tags))));
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measured.Enqueue((i.Name, v, Tags(tags))));
        listener.Start();

        var ok = new MigrationScript(host);
        await ok.DriveTo("Resuming");
        // The ResumeVm was lost: the nudge re-sends it.
        host.Clock.Advance(DefaultSettings().CutOverNudgeInterval);
        Assert.Equal(1, await host.Sweeper.NudgeOnceAsync(CancellationToken.None));
        await host.Sent<ResumeVm>(ok.Id, MigrationScript.HostQueue(Host), index: 1);
        await host.Publish(ok.Resumed());
        await host.WaitForState(ok.Id, "Succeeded");

        var bad = new MigrationScript(host);
        await bad.DriveTo("Copying");
        await host.Publish(bad.TransferFailed());
        await host.WaitForState(bad.Id, "Failed");
        await host.Publish(new RetryMigration(bad.Id));
        await host.WaitFor(bad.Id, r => r.Attempt == 2 && r.CurrentState == "Preparing", "retry");
        await host.PublishAndSettle(bad.IndexStreamed());

        Assert.Equal(3, measured.Count(m => m.Name == "teleport.migrations.started"));
        Assert.Single(measured, m => m.Name == "teleport.migrations.started" && m.Tags.Contains("attempt=retry"));
        Assert.Single(measured, m => m.Name == "teleport.migrations.succeeded");
        Assert.Single(measured, m => m.Name == "teleport.migrations.failed" && m.Tags.Contains("phase=Copy"));
        Assert.Single(measured, m => m.Name == "teleport.saga.stale_events" && m.Tags.Contains("event=IndexStreamed"));
        Assert.Single(measured, m => m.Name == "teleport.saga.nudges" && m.Tags.Contains("state=Resuming"));
        Assert.Equal(350, measured.Single(m => m.Name == "teleport.migration.downtime").Value, precision: 3);
        Assert.Equal(25_000_000, measured.Single(m => m.Name == "teleport.migration.bytes_on_wire").Value);
    }

    private static string Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var tag in tags)
            parts.Add($"{tag.Key}={tag.Value}");
        return string.Join(",", parts);
    }
}
