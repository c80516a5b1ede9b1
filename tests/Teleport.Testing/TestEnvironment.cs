namespace Teleport.Testing;

/// <summary>
/// What infra/test.sh provides through its hooks in infra/test.d: the RabbitMQ broker, the qemu tools, QEMU and the
/// workload guest, PostgreSQL, chromium. A missing piece fails the test with the hook that provides it, never skips it.
/// </summary>
public static class TestEnvironment
{
    public static string RabbitMq => TestBroker.Address;

    /// <summary>An Npgsql connection string of a user who may create databases.</summary>
    public static string Postgres => Require("TELEPORT_POSTGRES", "30-postgres.sh (a private PostgreSQL)", file: false);

    public static string QemuIo => Require("TELEPORT_QEMU_IO", "20-qemu-utils.sh (qemu-utils)");

    public static string QemuImg => Require("TELEPORT_QEMU_IMG", "20-qemu-utils.sh (qemu-utils)");

    public static string QemuNbd => Require("TELEPORT_QEMU_NBD", "20-qemu-utils.sh (qemu-utils)");

    public static string OpenSsl => Require("TELEPORT_OPENSSL", "21-openssl.sh (openssl)");

    public static string QemuSystem => Require("TELEPORT_QEMU_SYSTEM", "25-qemu-system.sh (qemu-system-x86)");

    /// <summary>Debian's chromium, which the dashboard's tests drive through Playwright.</summary>
    public static string Chromium => Require("TELEPORT_CHROMIUM", "35-chromium.sh (chromium)");

    public static string GuestKernel => RequireGuest("TELEPORT_GUEST_KERNEL");

    public static string GuestInitrd => RequireGuest("TELEPORT_GUEST_INITRD");

    public static string GuestWriter => RequireGuest("TELEPORT_GUEST_WRITER");

    /// <summary>
    /// The value of <paramref name="variable"/>, which the hook infra/test.d/<paramref name="hook"/> exports; with
    /// <paramref name="file"/>, it must name an existing file. Throws, naming the hook, when it does not.
    /// </summary>
    public static string Require(string variable, string hook, bool file = true)
    {
        string? value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value) || (file && !File.Exists(value)))
        {
            string state = string.IsNullOrWhiteSpace(value) ? "not set" : $"'{value}', a missing file";
            throw new InvalidOperationException(
                $"These tests need {variable}, which is {state}. Run them through infra/test.sh (its hook " +
                $"infra/test.d/{hook} provides it) or export {variable} yourself.");
        }

        return value;
    }

    private static string RequireGuest(string variable)
    {
        string? error = Environment.GetEnvironmentVariable("TELEPORT_GUEST_ERROR");
        if (!string.IsNullOrEmpty(error))
        {
            throw new InvalidOperationException($"The workload guest could not be built: {error}");
        }

        return Require(variable, "25-qemu-system.sh (infra/guest/workload/build-guest.sh)");
    }
}
