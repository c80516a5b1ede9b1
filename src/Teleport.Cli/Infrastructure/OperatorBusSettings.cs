namespace Teleport.Cli.Infrastructure;

/// <summary>Options of an operator command that talks to the orchestrators over their broker.</summary>
public class OperatorBusSettings : JsonSettings
{
    [CommandOption("--bus <BUS>")]
    [Description("The orchestrators' broker, rabbitmq://user:pass@HOST:PORT/ (default: TELEPORT_BUS).")]
    public string? Bus { get; init; }
}
