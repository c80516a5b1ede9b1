using Teleport.Storage.DirtyTracking;

namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>Resolution of volume paths against a fake /dev and /sys tree (the real one is exercised in the guest).</summary>
public sealed class DirtyTrackDeviceLocatorTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-locator-").FullName;
    private readonly string _dev, _sys;
    private readonly DirtyTrackDeviceLocator _locator;

    public DirtyTrackDeviceLocatorTests()
    {
        _dev = Path.Combine(_root, "dev");
        _sys = Path.Combine(_root, "sys");
        Directory.CreateDirectory(Path.Combine(_dev, "mapper"));
        Directory.CreateDirectory(Path.Combine(_dev, "dirtytrack"));
        Directory.CreateDirectory(Path.Combine(_dev, "vg0"));
        _locator = new DirtyTrackDeviceLocator(_dev, _sys);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void FollowsUdevSymlinksToDmN()
    {
        AddDm("dm-3", "vg0-data", tracked: true);
        File.CreateSymbolicLink(Path.Combine(_dev, "mapper", "vg0-data"), "../dm-3");
        File.CreateSymbolicLink(Path.Combine(_dev, "vg0", "data"), "../dm-3");

        Assert.Equal(Path.Combine(_dev, "dirtytrack", "dm-3"), _locator.FindTracker(Path.Combine(_dev, "mapper", "vg0-data")));
        Assert.Equal(Path.Combine(_dev, "dirtytrack", "dm-3"), _locator.FindTracker(Path.Combine(_dev, "vg0", "data")));
        Assert.Equal(Path.Combine(_dev, "dirtytrack", "dm-3"), _locator.FindTracker(Path.Combine(_dev, "dm-3")));
    }

    [Fact]
    public void FindsAMapperNodeWithoutUdevThroughSysfs()
    {
        AddDm("dm-0", "other", tracked: true);
        AddDm("dm-12", "vol", tracked: true);
        File.WriteAllText(Path.Combine(_dev, "mapper", "vol"), "");

        Assert.Equal("dm-12", _locator.FindDmName(Path.Combine(_dev, "mapper", "vol")));
        Assert.Equal(Path.Combine(_dev, "dirtytrack", "dm-12"), _locator.FindTracker(Path.Combine(_dev, "mapper", "vol")));
    }

    [Fact]
    public void ADmDeviceWithAnotherTargetHasNoTracker()
    {
        AddDm("dm-4", "plain", tracked: false);
        File.CreateSymbolicLink(Path.Combine(_dev, "mapper", "plain"), "../dm-4");

        Assert.Equal("dm-4", _locator.FindDmName(Path.Combine(_dev, "mapper", "plain")));
        Assert.Null(_locator.FindTracker(Path.Combine(_dev, "mapper", "plain")));
    }

    [Fact]
    public void FilesAndOtherDevicesAreNotDmDevices()
    {
        string image = Path.Combine(_root, "disk.img");
        File.WriteAllText(image, "");
        File.WriteAllText(Path.Combine(_dev, "dm-x"), "");

        Assert.Null(_locator.FindTracker(image));
        Assert.Null(_locator.FindTracker(Path.Combine(_dev, "sda")));
        Assert.Null(_locator.FindTracker(Path.Combine(_dev, "dm-x")));
        Assert.Null(_locator.FindTracker(Path.Combine(_dev, "mapper", "missing")));
        // dm-7 has the right name but no dm directory in sysfs: not a device-mapper device.
        Directory.CreateDirectory(Path.Combine(_sys, "block", "dm-7"));
        Assert.Null(_locator.FindDmName(Path.Combine(_dev, "dm-7")));
    }

    private void AddDm(string kernelName, string mapperName, bool tracked)
    {
        string dm = Path.Combine(_sys, "block", kernelName, "dm");
        Directory.CreateDirectory(dm);
        File.WriteAllText(Path.Combine(dm, "name"), mapperName + "\n");
        File.WriteAllText(Path.Combine(_dev, kernelName), "");
        if (tracked)
            File.WriteAllText(Path.Combine(_dev, "dirtytrack", kernelName), "");
    }
}
