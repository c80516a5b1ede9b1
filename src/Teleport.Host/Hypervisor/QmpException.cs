namespace Teleport.Host.Hypervisor;

/// <summary>QEMU answered a command with an error (class and description as QEMU gave them).</summary>
public sealed class QmpException(string command, string errorClass, string description)
    : Exception($"QMP command '{command}' failed: {errorClass}: {description}")
{
    public string Command { get; } = command;

    public string ErrorClass { get; } = errorClass;

    public string Description { get; } = description;
}
