namespace Teleport.Orchestrator.Persistence;

/// <summary>
/// Every schema step ever shipped, in order. A released step is never edited: a change to the model gets a new
/// step (ALTER TABLE ...) with the next number, so every database upgrades along the same path.
/// </summary>
public static class SchemaScripts
{
    // Initialised before All, which reads it. Column kinds of version 1, written once and rendered for both providers so they cannot drift apart.
    private static readonly (string Name, string Kind)[] Version1Columns =
    [
        ("CorrelationId", "uuid!"), ("CurrentState", "text!"), ("Version", "int!"), ("Phase", "text!"), ("Attempt", "int!"),
        ("VmId", "text!"), ("VolumeId", "text!"), ("SourceStorageId", "text!"), ("DestinationStorageId", "text!"), ("HostId", "text!"),
        ("DataEndpoint", "text"), ("Secret", "text"), ("CertificateSha256", "text"),
        ("OptionBlockSize", "int"), ("OptionBandwidthBytesPerSecond", "long"), ("OptionDirtyThresholdBlocks", "long"),
        ("OptionMaxCopyRounds", "int"), ("OptionCompressionLevel", "int"), ("OptionUseIndex", "bool!"),
        ("DeadlineUtc", "time"),
        ("RequestedAt", "time"), ("PrepareSentAt", "time"), ("PreparedAt", "time"), ("IndexStreamedAt", "time"),
        ("BlocksRequestedAt", "time"), ("LastRoundAt", "time"), ("DirtyBelowThresholdAt", "time"), ("PauseSentAt", "time"),
        ("PausedAt", "time"), ("SwitchedAt", "time"), ("CompletedAt", "time"), ("ResumedAt", "time"), ("SucceededAt", "time"),
        ("RollbackStartedAt", "time"), ("SwitchedBackAt", "time"), ("ResumedOnSourceAt", "time"), ("FailedAt", "time"),
        ("SourceAbortedAt", "time"), ("DestinationAbortedAt", "time"),
        ("VolumeBytes", "long!"), ("Blocks", "long!"), ("ZeroBlocks", "long!"), ("IndexBytes", "long!"),
        ("BlocksFromIndex", "long!"), ("BlocksRequestedFromSource", "long!"), ("Rounds", "int!"), ("BlocksSent", "long!"),
        ("BytesOnWire", "long!"), ("LastBytesPerSecond", "double!"), ("DirtyBlocks", "long!"), ("RoundCapReached", "bool!"),
        ("Verified", "bool!"), ("DowntimeMilliseconds", "double"),
        ("IndexStreamedSeen", "bool!"), ("BlocksRequestedSeen", "bool!"), ("ThresholdSeen", "bool!"),
        ("SwitchConfirmed", "bool!"), ("DestinationVerified", "bool!"), ("PauseRequested", "bool!"), ("SwitchRequested", "bool!"),
        ("FailureReason", "text"), ("FailedPhase", "text"), ("FailedState", "text"), ("RollbackIncomplete", "bool!"),
    ];

    public static IReadOnlyList<SchemaScript> All { get; } =
    [
        new(1, "migrations table (saga state)", CreateMigrations(DatabaseProvider.Sqlite), CreateMigrations(DatabaseProvider.Postgres)),
        new(2, "destination export from DestinationPrepared; start of the current phase",
            AddColumns(DatabaseProvider.Sqlite, ("NbdEndpoint", "text"), ("ExportName", "text"), ("PhaseEnteredAt", "time")),
            AddColumns(DatabaseProvider.Postgres, ("NbdEndpoint", "text"), ("ExportName", "text"), ("PhaseEnteredAt", "time"))),
        new(3, "nudges: when to re-send what the state waits on, how often it was re-sent, which aborts were sent",
            NudgeColumns(DatabaseProvider.Sqlite), NudgeColumns(DatabaseProvider.Postgres)),
        new(4, "whole-VM moves: destination host, memory options, the VM's definition, QEMU's memory progress, downtime split",
            WholeVmColumns(DatabaseProvider.Sqlite), WholeVmColumns(DatabaseProvider.Postgres)),
        new(5, "copy rounds of the current attempt, for the dashboard's charts",
            AddColumns(DatabaseProvider.Sqlite, ("RoundHistory", "text")), AddColumns(DatabaseProvider.Postgres, ("RoundHistory", "text"))),
        new(6, "downtime controller: max downtime options, measured round trip and dirty rate, predicted downtime",
            DowntimeColumns(DatabaseProvider.Sqlite), DowntimeColumns(DatabaseProvider.Postgres)),
        new(7, "the volume size a request names (it was not kept, so no worker checked it)",
            AddColumns(DatabaseProvider.Sqlite, ("OptionVolumeBytes", "long")), AddColumns(DatabaseProvider.Postgres, ("OptionVolumeBytes", "long"))),
        new(8, "fenced cut-over option (rows already in the table never asked for it)",
            BoolColumn(DatabaseProvider.Sqlite, "OptionFencedCutover"), BoolColumn(DatabaseProvider.Postgres, "OptionFencedCutover")),
        new(9, "post-copy: the cut-over fenced a dirty set pre-copy could not bring down (rows already in the table never did)",
            BoolColumn(DatabaseProvider.Sqlite, "PostCopy"), BoolColumn(DatabaseProvider.Postgres, "PostCopy")),
        new(10, "whole-VM memory post-copy: its options, and the bytes QEMU sent after the destination started running",
            MemoryPostCopyColumns(DatabaseProvider.Sqlite), MemoryPostCopyColumns(DatabaseProvider.Postgres)),
    ];

    public static int Latest => All[^1].Version;

    // One statement per column: SQLite's ALTER TABLE adds one at a time.
    private static string AddColumns(DatabaseProvider provider, params (string Name, string Kind)[] columns) =>
        string.Concat(columns.Select(c => $"ALTER TABLE \"{OrchestratorDbContext.MigrationsTable}\" ADD COLUMN {Column(provider, c.Name, c.Kind)};\n"));

    // Rows already in the table get 0 / false: a version-2 row was never nudged, and its aborts (if any) are not re-sent.
    private static string NudgeColumns(DatabaseProvider provider)
    {
        string table = OrchestratorDbContext.MigrationsTable;
        string falseValue = provider == DatabaseProvider.Postgres ? "FALSE" : "0";
        return AddColumns(provider, ("NudgeAtUtc", "time")) +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "Nudges", "int!")} DEFAULT 0;\n" +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "SourceAbortRequested", "bool!")} DEFAULT {falseValue};\n" +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "DestinationAbortRequested", "bool!")} DEFAULT {falseValue};\n" +
               $"CREATE INDEX \"IX_{table}_NudgeAtUtc\" ON \"{table}\" (\"NudgeAtUtc\");\n";
    }

    // Rows already in the table are storage-only moves: null / 0 / false is what they would have recorded.
    private static string WholeVmColumns(DatabaseProvider provider)
    {
        string table = OrchestratorDbContext.MigrationsTable;
        string falseValue = provider == DatabaseProvider.Postgres ? "FALSE" : "0";
        string nullable = AddColumns(provider,
            ("DestinationHostId", "text"), ("OptionMemoryMultifd", "bool"), ("OptionMemoryMultifdChannels", "int"),
            ("OptionMemoryDowntimeLimitMilliseconds", "int"), ("VmDefinitionJson", "text"), ("MigrationEndpoint", "text"),
            ("DescribedAt", "time"), ("IncomingPreparedAt", "time"), ("MemorySentAt", "time"), ("MemoryProgressAt", "time"),
            ("MemoryMigratedAt", "time"), ("SourceStoppedAt", "time"), ("IncomingDiscardedAt", "time"), ("MemoryStatus", "text"),
            ("QemuDowntimeMilliseconds", "double"), ("StorageDowntimeMilliseconds", "double"));
        var zeros = new[]
        {
            ("MemoryTransferredBytes", "long!", "0"), ("MemoryRemainingBytes", "long!", "0"), ("MemoryTotalBytes", "long!", "0"),
            ("MemoryDirtyPagesRate", "long!", "0"), ("MemoryExpectedDowntimeMilliseconds", "long!", "0"), ("MemoryBytes", "long!", "0"),
            ("IncomingRequested", "bool!", falseValue), ("MemoryMigrationRequested", "bool!", falseValue), ("DiscardRequested", "bool!", falseValue),
        };
        return nullable + string.Concat(zeros.Select(c =>
            $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, c.Item1, c.Item2)} DEFAULT {c.Item3};\n"));
    }

    // Rows already in the table never had a controller: null / 0 / false.
    private static string DowntimeColumns(DatabaseProvider provider)
    {
        string table = OrchestratorDbContext.MigrationsTable;
        string falseValue = provider == DatabaseProvider.Postgres ? "FALSE" : "0";
        return AddColumns(provider, ("OptionMaxDowntimeMilliseconds", "int"), ("RoundTripMilliseconds", "double"), ("PredictedDowntimeMilliseconds", "double")) +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "OptionStrictMaxDowntime", "bool!")} DEFAULT {falseValue};\n" +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "DirtyBlocksPerSecond", "double!")} DEFAULT 0;\n" +
               $"ALTER TABLE \"{table}\" ADD COLUMN {Column(provider, "DowntimeWaitRounds", "int!")} DEFAULT 0;\n";
    }

    // A NOT NULL flag that rows already in the table read as false.
    // Rows already in the table asked nothing (the host's defaults) and never went post-copy: null / 0.
    private static string MemoryPostCopyColumns(DatabaseProvider provider) =>
        AddColumns(provider, ("OptionMemoryPostCopy", "bool"), ("OptionMemoryPostCopyAfterRounds", "int"), ("OptionMemoryPostCopyAfterSeconds", "int")) +
        $"ALTER TABLE \"{OrchestratorDbContext.MigrationsTable}\" ADD COLUMN {Column(provider, "MemoryPostCopyBytes", "long!")} DEFAULT 0;\n";

    private static string BoolColumn(DatabaseProvider provider, string name) =>
        $"ALTER TABLE \"{OrchestratorDbContext.MigrationsTable}\" ADD COLUMN {Column(provider, name, "bool!")} DEFAULT {(provider == DatabaseProvider.Postgres ? "FALSE" : "0")};\n";

    private static string CreateMigrations(DatabaseProvider provider)
    {
        var columns = Version1Columns.Select(c => "    " + Column(provider, c.Name, c.Kind) + (c.Name == "CorrelationId" ? " PRIMARY KEY" : ""));
        string table = OrchestratorDbContext.MigrationsTable;
        return $"CREATE TABLE \"{table}\" (\n{string.Join(",\n", columns)}\n);\n" +
               $"CREATE INDEX \"IX_{table}_DeadlineUtc\" ON \"{table}\" (\"DeadlineUtc\");";
    }

    // A column definition; a kind ending in '!' is NOT NULL (only for version 1, which created the table empty).
    private static string Column(DatabaseProvider provider, string name, string kindText)
    {
        bool notNull = kindText.EndsWith('!');
        string kind = kindText.TrimEnd('!');
        string type = (provider, kind) switch
        {
            (DatabaseProvider.Postgres, "uuid") => "uuid",
            (DatabaseProvider.Postgres, "text") => "text",
            (DatabaseProvider.Postgres, "int") => "integer",
            (DatabaseProvider.Postgres, "long") => "bigint",
            (DatabaseProvider.Postgres, "double") => "double precision",
            (DatabaseProvider.Postgres, "bool") => "boolean",
            (DatabaseProvider.Postgres, "time") => "timestamp with time zone",
            // SQLite as EF Core's provider stores them: Guid and times as TEXT, integers and bools as INTEGER.
            (_, "uuid" or "text" or "time") => "TEXT",
            (_, "int" or "long" or "bool") => "INTEGER",
            (_, "double") => "REAL",
            _ => throw new InvalidOperationException($"unknown column kind {kind}"),
        };
        return $"\"{name}\" {type}{(notNull ? " NOT NULL" : "")}";
    }
}
