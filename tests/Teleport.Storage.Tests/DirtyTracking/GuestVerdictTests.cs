namespace Teleport.Storage.Tests.DirtyTracking;

public sealed class GuestVerdictTests
{
    [Fact]
    public void ReadsPassFailAndDoneAmongOtherConsoleOutput()
    {
        const string console =
            "SeaBIOS\r\n[    2.1] device-mapper: ioctl: error\r\nKMOD-TEST PASS linear_mapping\r\n" +
            "# concurrent: 1600 writes\nKMOD-TEST FAIL discard_marked BLKDISCARD: Operation not supported\n" +
            "[ 3.0] x KMOD-TEST PASS late_line\nKMOD-TEST DONE passed=2 failed=1\n";

        var verdict = GuestVerdict.Parse(console);

        Assert.Equal(["late_line", "linear_mapping"], verdict.Passed.Order());
        Assert.Equal("BLKDISCARD: Operation not supported", Assert.Single(verdict.Failed).Value);
        Assert.Equal((2, 1), verdict.Done);
    }

    [Fact]
    public void AGuestThatNeverFinishedHasNoDoneLine()
    {
        var verdict = GuestVerdict.Parse("KMOD-TEST PASS a\nKMOD-TEST DONE passed=x failed=0\nKMOD-TEST DONE\n");

        Assert.Null(verdict.Done);
        Assert.Single(verdict.Passed);
    }

    [Fact]
    public void AFailureWithoutReasonIsStillAFailure()
    {
        var verdict = GuestVerdict.Parse("KMOD-TEST FAIL dotnet_probe\n");

        Assert.True(verdict.Failed.ContainsKey("dotnet_probe"));
        Assert.Null(verdict.Failed["dotnet_probe"]);
    }
}
