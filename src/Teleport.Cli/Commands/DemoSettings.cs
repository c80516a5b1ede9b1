namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport demo</c>; everything else is an embedded default.</summary>
public sealed class DemoSettings : JsonSettings
{
    [CommandOption("--size <BYTES>")]
    [Description("Size of the generated volume, a multiple of 4 KiB from 4m to 16g (default 256m).")]
    [DefaultValue("256m")]
    public string Size { get; init; } = "256m";

    [CommandOption("--bandwidth <RATE>")]
    [Description("Cap on the data channel between the storage workers, e.g. 100mbit, 12.5MB/s (default: unlimited).")]
    [DefaultValue("unlimited")]
    public string Bandwidth { get; init; } = "unlimited";

    [CommandOption("--guest")]
    [Description("The VM is the QEMU test guest (software emulation) instead of the in-process writer; needs TELEPORT_GUEST_KERNEL, TELEPORT_GUEST_INITRD (infra/guest/workload/build-guest.sh) and qemu-system-x86_64.")]
    public bool Guest { get; init; }

    [CommandOption("--whole-vm")]
    [Description("Move the whole VM: the QEMU test guest (as with --guest) moves with its memory and devices from a QEMU on host-1 to one host-2 starts, its writer carrying on there.")]
    public bool WholeVm { get; init; }

    [CommandOption("--keep <DIR>")]
    [Description("Work in DIR (created; must be empty) and keep the images, volumes, index and saga database there.")]
    public string? Keep { get; init; }
}
