using System.Buffers.Binary;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

public class ByteRateTests
{
    [Theory]
    [InlineData("100mbit", 12_500_000)]
    [InlineData("100Mbit/s", 12_500_000)]
    [InlineData("100mbps", 12_500_000)]
    [InlineData("1gbit", 125_000_000)]
    [InlineData("1.5Gbps", 187_500_000)]
    [InlineData("512kbit", 64_000)]
    [InlineData("12.5MB/s", 12_500_000)]
    [InlineData("1KiB/s", 1024)]
    [InlineData("2MiB", 2 * 1024 * 1024)]
    [InlineData("750000", 750_000)]
    [InlineData("750000B/s", 750_000)]
    public void Parses_what_operators_write(string text, double bytesPerSecond) =>
        Assert.Equal(bytesPerSecond, ByteRate.Parse(text).BytesPerSecond, 6);

    [Theory]
    [InlineData("unlimited")]
    [InlineData("0")]
    public void Parses_unlimited(string text) => Assert.True(ByteRate.Parse(text).IsUnlimited);

    [Theory]
    [InlineData("")]
    [InlineData("fast")]
    [InlineData("100 furlongs")]
    [InlineData("10mb")] // megabit or megabyte? refused rather than guessed
    [InlineData("-5mbit")]
    [InlineData("1.2.3mbit")]
    public void Refuses_nonsense(string text)
    {
        Assert.False(ByteRate.TryParse(text, out _));
        var error = Assert.Throws<FormatException>(() => ByteRate.Parse(text));
        Assert.Contains("100mbit", error.Message);
    }
}
