using Teleport.Blocks;
using Teleport.Storage.DirtyTracking;

namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>Which tracker the factory picks, and its refusals; the kernel tracker itself runs in the guest.</summary>
public sealed class DirtyTrackerFactoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-factory-").FullName;
    private readonly DirtyTrackingOptions _options;

    public DirtyTrackerFactoryTests()
    {
        _options = new DirtyTrackingOptions { DevRoot = Path.Combine(_root, "dev"), SysRoot = Path.Combine(_root, "sys") };
        Directory.CreateDirectory(Path.Combine(_root, "dev", "dirtytrack"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void UserspaceModeGivesTheWorkersOwnBitmap()
    {
        var tracker = DirtyTrackerFactory.Create("/dev/whatever", 10 * 4096 + 1, _options with { Mode = DirtyTrackingMode.Userspace });

        var bitmap = Assert.IsType<DirtyBitmap>(tracker);
        Assert.Equal(11, bitmap.BlockCount);
        Assert.Equal(4096, bitmap.BlockSize);
    }

    [Fact]
    public void AutoModeFallsBackToTheBitmapForAPlainFile()
    {
        string image = Path.Combine(_root, "disk.img");
        File.WriteAllText(image, "");

        var tracker = DirtyTrackerFactory.Create(image, 1 << 20, _options with { BlockSize = 65536 });

        Assert.IsType<DirtyBitmap>(tracker);
        Assert.Equal(16, tracker.BlockCount);
    }

    [Fact]
    public void KernelModeRefusesAVolumeWithoutTheTarget()
    {
        string image = Path.Combine(_root, "disk.img");
        File.WriteAllText(image, "");

        var e = Assert.Throws<InvalidOperationException>(() =>
            DirtyTrackerFactory.Create(image, 1 << 20, _options with { Mode = DirtyTrackingMode.Kernel }));

        Assert.Contains(image, e.Message);
        Assert.Contains("kmod/README.md", e.Message);
    }

    [Fact]
    public void ATrackerPathThatIsNoTrackerIsAClearError()
    {
        // dm-5 exists as far as sysfs and /dev go, but its "tracker" is a regular file: the status ioctl fails.
        Directory.CreateDirectory(Path.Combine(_root, "sys", "block", "dm-5", "dm"));
        string volume = Path.Combine(_root, "dev", "dm-5");
        File.WriteAllText(volume, "");
        File.WriteAllText(Path.Combine(_root, "dev", "dirtytrack", "dm-5"), "not a device");

        var e = Assert.Throws<IOException>(() => DirtyTrackerFactory.Create(volume, 1 << 20, _options));

        Assert.Contains("is not a dirtytrack device", e.Message);
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => DirtyTrackerFactory.Create("/dev/x", 4096, _options with { BlockSize = 1000 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => DirtyTrackerFactory.Create("/dev/x", -1, _options));
        Assert.Throws<ArgumentException>(() => DirtyTrackerFactory.Create("", 4096, _options));
    }

    [Fact]
    public void OpeningAMissingDeviceSaysWhich()
    {
        string missing = Path.Combine(_root, "dev", "dirtytrack", "dm-99");

        var e = Assert.Throws<IOException>(() => KernelDirtyTracker.Open(missing));

        Assert.Contains(missing, e.Message);
        Assert.Contains("errno 2", e.Message);
    }
}
