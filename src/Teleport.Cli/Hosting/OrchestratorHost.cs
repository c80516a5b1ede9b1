using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using Serilog;
using Teleport.Cli.Hosting.Http;
using Teleport.Messaging;
using Teleport.Orchestrator;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Cli.Hosting;

/// <summary>Builds the orchestrator's generic host: settings from JSON, TELEPORT_ORCHESTRATOR__* variables and flags; Serilog logging.</summary>
public sealed class OrchestratorHost() : RoleHostFactory<OrchestratorOptions>(OrchestratorOptions.SectionName, "teleport-orchestrator")
{
    protected override void Validate(OrchestratorOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Database))
            throw new UserInputException("Orchestrator:Database must name a SQLite file or a PostgreSQL connection string");
        if (string.IsNullOrWhiteSpace(options.QueueName))
            throw new UserInputException("Orchestrator:QueueName must not be empty");
        if (options.ConcurrencyRetryLimit < 0)
            throw new UserInputException($"Orchestrator:ConcurrencyRetryLimit {options.ConcurrencyRetryLimit} must be 0 or more");
        var s = options.Settings;
        foreach (var (name, value) in new[]
                 {
                     ("PrepareTimeout", s.PrepareTimeout), ("IndexAndRequestTimeout", s.IndexAndRequestTimeout),
                     ("CopyTimeout", s.CopyTimeout), ("CutOverTimeout", s.CutOverTimeout), ("RollbackTimeout", s.RollbackTimeout),
                     ("SweepInterval", s.SweepInterval), ("RepublishAfter", s.RepublishAfter),
                     ("PrepareNudgeInterval", s.PrepareNudgeInterval), ("TransferNudgeInterval", s.TransferNudgeInterval),
                     ("CutOverNudgeInterval", s.CutOverNudgeInterval), ("RollbackNudgeInterval", s.RollbackNudgeInterval),
                     ("AbortResendWindow", s.AbortResendWindow),
                 })
        {
            if (value <= TimeSpan.Zero)
                throw new UserInputException($"Orchestrator:Settings:{name} {value} must be positive");
        }

        // An ArgumentException: reported as the bad setting it is.
        BusAddress.Parse(options.Bus, "Orchestrator:Bus");
    }

    /// <summary>
    /// MigrationId arrives through logger scopes. A message that lost an optimistic-concurrency race is re-run
    /// (MassTransit logs each retry as a warning with the stack): that is the saga working as designed, so only a
    /// message whose retries ran out (an error) is shown. Events written through this filter reach Log.Logger past its
    /// per-source overrides, so they are repeated here.
    /// </summary>
    protected override void AddLogging(IServiceCollection services)
    {
        var logger = new LoggerConfiguration()
            .MinimumLevel.Verbose()
            .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
            .MinimumLevel.Override("MassTransit", Serilog.Events.LogEventLevel.Warning)
            .Filter.ByExcluding(e => e.Level == Serilog.Events.LogEventLevel.Warning && e.Exception is DbUpdateConcurrencyException)
            .WriteTo.Logger(Log.Logger)
            .CreateLogger();
        services.AddSerilog(logger, dispose: true);
    }

    protected override void AddServices(IServiceCollection services, OrchestratorOptions options)
    {
        // Schema upgrade and the deadline sweeper are registered first: the schema is current before the bus delivers.
        services.AddTeleportOrchestrator(options);
        services.AddTeleportBus(BusAddress.Parse(options.Bus, "Orchestrator:Bus"), x => x.AddMigrationSaga(), null, endpointsByDefinition: true);
    }

    protected override void AddReadiness(IHealthChecksBuilder checks, OrchestratorOptions options) => OrchestratorReadiness.Add(checks);

    // Created when the meter provider starts, so the counters and the by-state gauge are there before the first migration.
    protected override void AddMetrics(MeterProviderBuilder metrics) =>
        metrics.AddInstrumentation(services => services.GetRequiredService<MigrationMetrics>())
            .AddInstrumentation(services => services.GetRequiredService<MigrationStateGauge>());

    protected override RoleHost Announce(IHost host, OrchestratorOptions options)
    {
        Log.Information("Orchestrator starting: saga state in {Provider}, queue {Queue}, bus {Bus}",
            OrchestratorDatabase.DetectProvider(options.Database), options.QueueName, BusAddress.Parse(options.Bus, "Orchestrator:Bus"));
        return new RoleHost(host, "Orchestrator", TimeSpan.FromSeconds(60));
    }
}
