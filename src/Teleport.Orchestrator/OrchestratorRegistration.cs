using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Teleport.Messaging.Http;
using Teleport.Orchestrator.Dashboard;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator;

/// <summary>
/// Wiring for an orchestrator process. Call <c>services.AddTeleportOrchestrator(configuration)</c>, then inside
/// <c>services.AddMassTransit(x =&gt; { x.AddMigrationSaga(); x.UsingRabbitMq((c, cfg) =&gt; cfg.ConfigureEndpoints(c)); })</c>.
/// </summary>
public static class OrchestratorRegistration
{
    /// <summary>Binds <see cref="OrchestratorOptions"/> from the "Orchestrator" section and registers the orchestrator's services.</summary>
    public static IServiceCollection AddTeleportOrchestrator(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new OrchestratorOptions();
        configuration.GetSection(OrchestratorOptions.SectionName).Bind(options);
        return services.AddTeleportOrchestrator(options);
    }

    /// <summary>Registers the database, schema upgrade on start, deadline sweeper, settings and the web dashboard.</summary>
    public static IServiceCollection AddTeleportOrchestrator(this IServiceCollection services, OrchestratorOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton(options.Settings);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<MigrationMetrics>();
        services.TryAddSingleton<MigrationStateGauge>();
        services.AddSingleton(_ => new OrchestratorDatabase(options.Database));
        services.AddHostedService<SchemaUpgradeService>();
        services.AddSingleton<DeadlineSweeper>();
        services.AddHostedService(provider => provider.GetRequiredService<DeadlineSweeper>());
        // The web dashboard, mapped by the role's HTTP listener (--http-listen) when there is one.
        services.AddSingleton<MigrationBoard>();
        services.AddSingleton<OperatorToken>();
        services.AddSingleton<DashboardActions>();
        services.AddSingleton<IHttpEndpoints, DashboardEndpoints>();
        return services;
    }

    /// <summary>
    /// Adds the migration saga with Teleport's EF Core repository to the bus being configured, and turns off
    /// MassTransit's usage telemetry: an orchestrator must not call out to a third-party service.
    /// </summary>
    public static IBusRegistrationConfigurator AddMigrationSaga(this IBusRegistrationConfigurator configurator)
    {
        configurator.DisableUsageTelemetry();
        configurator.AddSagaStateMachine<MigrationStateMachine, MigrationState, MigrationSagaDefinition>()
            .Repository(repository =>
            {
                repository.RegisterSagaRepository<MigrationState, OrchestratorDbContext,
                    SagaConsumeContextFactory<OrchestratorDbContext, MigrationState>, MigrationSagaRepositoryContextFactory>();
                repository.RegisterLoadSagaRepository<MigrationState, MigrationSagaRepositoryContextFactory>();
                repository.RegisterQuerySagaRepository<MigrationState, MigrationSagaRepositoryContextFactory>();
            });
        return configurator;
    }
}
