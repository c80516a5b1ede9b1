namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport replay</c>.</summary>
public sealed class ReplaySettings : OperatorBusSettings
{
    [CommandOption("--queue <QUEUE>")]
    [Description("The queue whose faulted messages to replay: they wait in QUEUE_error.")]
    public string? Queue { get; init; }

    [CommandOption("--all")]
    [Description("Replay every message in QUEUE_error.")]
    public bool All { get; init; }

    [CommandOption("--message-id <ID>")]
    [Description("Replay only the message with this MessageId.")]
    public string? MessageId { get; init; }

    [CommandOption("--dry-run")]
    [Description("List what would be moved; move nothing.")]
    public bool DryRun { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Queue))
            return ValidationResult.Error("--queue is required");
        if (Queue.Length > 200 || Queue.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            return ValidationResult.Error($"--queue '{Queue}' is not a queue name");
        if (All == (MessageId is not null))
            return ValidationResult.Error("give either --all or --message-id ID");
        return base.Validate();
    }

    /// <summary>The input queue (QUEUE, also when QUEUE_error was given).</summary>
    public string InputQueue => Queue!.EndsWith(ReplayCommand.ErrorSuffix, StringComparison.Ordinal) ? Queue[..^ReplayCommand.ErrorSuffix.Length] : Queue!;
}
