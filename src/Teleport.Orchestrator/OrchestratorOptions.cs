namespace Teleport.Orchestrator;

/// <summary>Configuration of an orchestrator process (section "Orchestrator").</summary>
public sealed class OrchestratorOptions
{
    /// <summary>Configuration section these options bind from.</summary>
    public const string SectionName = "Orchestrator";

    /// <summary>
    /// Where saga state lives: a SQLite file path (or "Data Source=..." string), or a PostgreSQL connection string
    /// (recognised by its "Host=" key).
    /// </summary>
    public string Database { get; set; } = "teleport-orchestrator.db";

    /// <summary>The broker: "memory" (one process only, as in the demo) or rabbitmq://user:pass@HOST:PORT/ (read by the host, not here).</summary>
    public string Bus { get; set; } = "memory";

    /// <summary>
    /// The queue the orchestrators share (competing consumers). Only a second Teleport installation on the same
    /// broker (or a test) needs another name; commands such as CancelMigration are sent here.
    /// </summary>
    public string QueueName { get; set; } = Teleport.Contracts.WorkerQueues.Orchestrator;

    /// <summary>Timeouts and sweeper settings.</summary>
    public MigrationSettings Settings { get; set; } = new();

    /// <summary>Lanes of the saga endpoint: messages of one migration share a lane and are handled in order, one at a time.</summary>
    public int PartitionCount { get; set; } = 16;

    /// <summary>How many times a message is re-run after an optimistic-concurrency conflict before it faults.</summary>
    public int ConcurrencyRetryLimit { get; set; } = 10;

    /// <summary>
    /// The bearer token the dashboard's retry and cancel actions require (compared in constant time). Unset: the
    /// dashboard is read-only and refuses every action.
    /// </summary>
    public string? OperatorToken { get; set; }
}
