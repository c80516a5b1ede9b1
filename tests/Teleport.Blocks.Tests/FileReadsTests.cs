using Teleport.Blocks;
using Xunit;

namespace Teleport.Blocks.Tests;

public sealed class FileReadsTests
{
    [Fact]
    public void ReadAtMost_stops_at_the_end_of_the_file()
    {
        using var dir = new TempDirectory();
        string path = dir.File("f");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        using var handle = File.OpenHandle(path);
        byte[] buffer = new byte[8];

        Assert.Equal(3, FileReads.ReadAtMost(handle, buffer, 2));
        Assert.Equal(new byte[] { 3, 4, 5, 0, 0, 0, 0, 0 }, buffer);
        Assert.Equal(0, FileReads.ReadAtMost(handle, buffer, 5));
    }

    [Fact]
    public void ReadExactly_fills_the_span_or_names_the_short_offset()
    {
        using var dir = new TempDirectory();
        string path = dir.File("f");
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        using var handle = File.OpenHandle(path);

        byte[] four = new byte[4];
        FileReads.ReadExactly(handle, four, 1);
        Assert.Equal(new byte[] { 2, 3, 4, 5 }, four);

        var e = Assert.Throws<EndOfStreamException>(() => FileReads.ReadExactly(handle, new byte[4], 3));
        Assert.Contains("offset 5", e.Message);
    }
}
