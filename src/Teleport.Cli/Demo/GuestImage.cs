namespace Teleport.Cli.Demo;

/// <summary>The QEMU test guest the demo can run instead of its in-process VM (infra/guest/workload/build-guest.sh builds it).</summary>
public sealed record GuestImage(string Qemu, string Kernel, string Initrd)
{
    /// <summary>From TELEPORT_QEMU_SYSTEM (else qemu-system-x86_64 on PATH), TELEPORT_GUEST_KERNEL and TELEPORT_GUEST_INITRD.</summary>
    /// <exception cref="UserInputException">Something is missing: names it and how to get it.</exception>
    public static GuestImage FromEnvironment(string flag = "--guest")
    {
        string? qemu = Environment.GetEnvironmentVariable("TELEPORT_QEMU_SYSTEM") is { Length: > 0 } set ? set : OnPath("qemu-system-x86_64");
        if (qemu is null || !File.Exists(qemu))
            throw new UserInputException($"{flag} needs qemu-system-x86_64 (apt-get install qemu-system-x86, or set TELEPORT_QEMU_SYSTEM)");
        string kernel = Required("TELEPORT_GUEST_KERNEL", flag);
        string initrd = Required("TELEPORT_GUEST_INITRD", flag);
        return new GuestImage(Path.GetFullPath(qemu), Path.GetFullPath(kernel), Path.GetFullPath(initrd));
    }

    private static string Required(string variable, string flag) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } path && File.Exists(path)
            ? path
            : throw new UserInputException(
                $"{flag} needs {variable} naming the workload guest's file: eval \"$(infra/guest/workload/build-guest.sh ~/.cache/teleport/workload-guest)\" and export the variables it prints");

    private static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}
