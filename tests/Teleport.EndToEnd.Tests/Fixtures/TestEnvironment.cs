namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// What infra/test.sh provides: the RabbitMQ broker (hook 10-rabbitmq.sh), QEMU and the workload guest (hook
/// 25-qemu-system.sh). A missing piece fails the test with the hook to run, never skips it.
/// </summary>
public static class TestEnvironment
{
    public static string RabbitMq => Require("TELEPORT_RABBITMQ", "10-rabbitmq.sh (a private RabbitMQ)", file: false);

    public static string QemuSystem => Require("TELEPORT_QEMU_SYSTEM", "25-qemu-system.sh (qemu-system-x86)");

    public static string GuestKernel => RequireGuest("TELEPORT_GUEST_KERNEL");

    public static string GuestInitrd => RequireGuest("TELEPORT_GUEST_INITRD");

    private static string RequireGuest(string variable)
    {
        string? error = Environment.GetEnvironmentVariable("TELEPORT_GUEST_ERROR");
        if (!string.IsNullOrEmpty(error))
            throw new InvalidOperationException($"The workload guest could not be built: {error}");
        return Require(variable, "25-qemu-system.sh (infra/guest/workload/build-guest.sh)");
    }

    private static string Require(string variable, string hook, bool file = true)
    {
        string? value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value) || (file && !File.Exists(value)))
        {
            throw new InvalidOperationException(
                $"The end-to-end tests need {variable}, which is {(string.IsNullOrWhiteSpace(value) ? "not set" : $"'{value}', a missing file")}. " +
                $"Run them through infra/test.sh tests/Teleport.EndToEnd.Tests (hook infra/test.d/{hook}).");
        }

        return value;
    }
}
