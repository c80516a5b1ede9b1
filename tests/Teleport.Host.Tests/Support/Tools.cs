namespace Teleport.Host.Tests.Support;

/// <summary>Paths of the real QEMU programs, exported by infra/test.d/20-qemu-utils.sh and 25-qemu-system.sh.</summary>
internal static class Tools
{
    public static string QemuIo => Require("TELEPORT_QEMU_IO", "qemu-io", "20-qemu-utils.sh (qemu-utils)");

    public static string QemuSystem => Require("TELEPORT_QEMU_SYSTEM", "qemu-system-x86_64", "25-qemu-system.sh (qemu-system-x86)");

    public static string GuestKernel => RequireGuest("TELEPORT_GUEST_KERNEL");

    public static string GuestInitrd => RequireGuest("TELEPORT_GUEST_INITRD");

    public static string GuestWriter => RequireGuest("TELEPORT_GUEST_WRITER");

    private static string RequireGuest(string variable)
    {
        string? error = Environment.GetEnvironmentVariable("TELEPORT_GUEST_ERROR");
        if (!string.IsNullOrEmpty(error))
        {
            throw new InvalidOperationException($"The workload guest could not be built: {error}");
        }

        return Require(variable, variable, "25-qemu-system.sh (infra/guest/workload/build-guest.sh)");
    }

    private static string Require(string variable, string tool, string hook)
    {
        string? path = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            throw new InvalidOperationException(
                $"{tool} is required by the host tests but {variable} is {(string.IsNullOrEmpty(path) ? "not set" : $"'{path}', which does not exist")}. " +
                $"Run infra/test.sh (its hook infra/test.d/{hook} installs it) or export {variable}=/usr/bin/{tool}.");
        }

        return path;
    }
}
