namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>
/// The dm-dirtytrack module and KernelDirtyTracker, exercised for real in a QEMU guest (software emulation) running
/// Debian's kernel: one test per case the guest reports, so a broken module or tracker fails by name.
/// </summary>
public sealed class KernelTargetGuestTests(KmodGuestRun guest) : IClassFixture<KmodGuestRun>
{
    /// <summary>Cases of kmod/test/dttest.c, kmod/test/dtguard.c and kmod/test/guest-run.sh.</summary>
    private static readonly string[] ModuleCases =
    [
        "module_loads", "bad_tables_refused", "linear_mapping", "writes_marked_exactly", "flush_is_not_a_write",
        "take_returns_and_clears", "mark_and_bad_ioctls", "discard_marked", "write_zeroes_marked",
        "concurrent_take_loses_nothing", "block_sizes_512_and_64k", "suspend_reload_keeps_bitmap",
        "reload_to_linear_and_back", "more_than_128_devices", "remove_is_clean", "read_only_descriptor_changes_nothing",
        "oversize_ioctl_arguments_refused", "huge_tables_refused_cleanly", "kernel_log_clean",
    ];

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (string name in ModuleCases.Concat(KernelTrackerProbe.Cases))
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GuestCasePasses(string name)
    {
        if (guest.Verdict.Failed.TryGetValue(name, out string? reason))
            Assert.Fail($"{name} failed in the guest: {reason}\n{guest.Tail}");
        Assert.True(guest.Verdict.Passed.Contains(name), $"The guest never reported {name}.\n{guest.Tail}");
    }

    [Fact]
    public void GuestFinishesWithNoFailureAndNoUnknownCase()
    {
        if (guest.Verdict.Done is not { } done)
        {
            Assert.Fail($"The guest did not finish (no KMOD-TEST DONE line).\n{guest.Tail}");
            return;
        }
        Assert.Empty(guest.Verdict.Failed);
        Assert.Equal((guest.Verdict.Passed.Count, 0), done);
        Assert.Equal(ModuleCases.Concat(KernelTrackerProbe.Cases).Order(), guest.Verdict.Passed.Order());
    }
}
