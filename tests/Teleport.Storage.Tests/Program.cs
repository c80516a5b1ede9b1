using Teleport.Storage.Tests.DirtyTracking;

namespace Teleport.Storage.Tests;

/// <summary>
/// The test assembly's entry point. Test runners never call it; the kmod test guest runs
/// <c>dotnet Teleport.Storage.Tests.dll kernel-tracker-probe /dev/mapper/tp</c> to exercise
/// KernelDirtyTracker against the real kernel module.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["kernel-tracker-probe", var volume])
            return KernelTrackerProbe.Run(volume, Console.Out);
        Console.Error.WriteLine("usage: Teleport.Storage.Tests kernel-tracker-probe /dev/mapper/NAME");
        return 2;
    }
}
