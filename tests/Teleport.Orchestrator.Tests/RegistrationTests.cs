using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Teleport.Orchestrator.Persistence;

namespace Teleport.Orchestrator.Tests;

public sealed class RegistrationTests
{
    [Fact]
    public void Options_bind_from_the_orchestrator_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Orchestrator:Database"] = "Host=db.example;Port=5432;Database=teleport;Username=t;Password=p",
            ["Orchestrator:QueueName"] = "teleport-orchestrator-eu",
            ["Orchestrator:ConcurrencyRetryLimit"] = "3",
            ["Orchestrator:Settings:PrepareTimeout"] = "00:00:10",
            ["Orchestrator:Settings:CopyTimeout"] = "02:00:00",
        }).Build();

        var services = new ServiceCollection().AddTeleportOrchestrator(configuration);
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<OrchestratorOptions>();
        Assert.Equal("teleport-orchestrator-eu", options.QueueName);
        Assert.Equal(3, options.ConcurrencyRetryLimit);
        var settings = provider.GetRequiredService<MigrationSettings>();
        Assert.Equal(TimeSpan.FromSeconds(10), settings.PrepareTimeout);
        Assert.Equal(TimeSpan.FromHours(2), settings.CopyTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.CutOverTimeout);
        Assert.Equal(DatabaseProvider.Postgres, provider.GetRequiredService<OrchestratorDatabase>().Provider);
        Assert.Contains(services, d => d.ServiceType == typeof(IHostedService));
    }

    [Theory]
    [InlineData("teleport-orchestrator.db", DatabaseProvider.Sqlite)]
    [InlineData("/var/lib/teleport/state.db", DatabaseProvider.Sqlite)]
    [InlineData("Data Source=/var/lib/teleport/state.db;Cache=Shared", DatabaseProvider.Sqlite)]
    [InlineData("Host=127.0.0.1;Port=5432;Database=t;Username=u;Password=p", DatabaseProvider.Postgres)]
    [InlineData("Database=t; host = db.internal ;Username=u", DatabaseProvider.Postgres)]
    public void The_provider_follows_the_database_string(string database, DatabaseProvider expected)
    {
        Assert.Equal(expected, OrchestratorDatabase.DetectProvider(database));
        Assert.Equal(expected, new OrchestratorDatabase(database).Provider);
    }

    [Fact]
    public void An_empty_database_setting_is_refused_clearly()
    {
        var error = Assert.Throws<ArgumentException>(() => new OrchestratorDatabase(" "));
        Assert.Contains("Orchestrator:Database", error.Message);
    }
}
