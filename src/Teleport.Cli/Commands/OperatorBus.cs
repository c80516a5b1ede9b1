using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>The broker an operator command (migrate, migrations, replay) talks to: <c>--bus</c>, else TELEPORT_BUS.</summary>
public static class OperatorBus
{
    public const string EnvironmentVariable = "TELEPORT_BUS";

    /// <summary>The in-memory bus exists only inside one process, so a separate command cannot reach an orchestrator through it.</summary>
    public static BusAddress ForOperator(string? flag)
    {
        string? text = flag ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
            throw new UserInputException($"--bus is missing (or set {EnvironmentVariable}): rabbitmq://user:pass@HOST:PORT/");
        var bus = BusAddress.Parse(text, "--bus");
        if (bus.InMemory)
            throw new UserInputException("--bus memory exists only inside one process: give the orchestrators' broker, rabbitmq://user:pass@HOST:PORT/");
        return bus;
    }
}
