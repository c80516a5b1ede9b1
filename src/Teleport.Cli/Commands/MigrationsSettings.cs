using Teleport.Contracts;

namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport migrations retry|cancel ID</c>: the command goes to the orchestrators' queue.</summary>
public class MigrationsSettings : GlobalSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The migration id (a GUID).")]
    public string Id { get; init; } = "";

    [CommandOption("--bus <BUS>")]
    [Description("The orchestrators' broker, rabbitmq://user:pass@HOST:PORT/ (default: TELEPORT_BUS).")]
    public string? Bus { get; init; }

    [CommandOption("--db <DB>")]
    [Description("The saga store (default: TELEPORT_DB); when given, an unknown id or a migration in the wrong state is refused before anything is sent.")]
    public string? Database { get; init; }

    [CommandOption("--orchestrator-queue <QUEUE>")]
    [Description("The orchestrators' queue (Orchestrator:QueueName), default teleport-orchestrator.")]
    [DefaultValue(WorkerQueues.Orchestrator)]
    public string OrchestratorQueue { get; init; } = WorkerQueues.Orchestrator;
}
