using System.Net;
using Teleport.Storage.Migrations;

namespace Teleport.Storage.Tests.Migrations;

/// <summary>The destination's address and certificate pin as StartTransfer carries them: text from the bus, refused when malformed.</summary>
public sealed class DataChannelAddressTests
{
    [Fact]
    public void Parses_data_endpoints_from_the_bus()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7000), DataChannelAddress.ParseEndPoint("127.0.0.1:7000"));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, 7000), DataChannelAddress.ParseEndPoint("[::1]:7000"));
        Assert.Equal(new DnsEndPoint("dst.example", 7000), DataChannelAddress.ParseEndPoint("dst.example:7000"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("dst.example")]
    [InlineData("dst.example:")]
    [InlineData(":7000")]
    [InlineData("dst.example:0")]
    [InlineData("dst.example:70000")]
    [InlineData("dst.example:-1")]
    [InlineData("dst.example:port")]
    [InlineData("a b:7000")]
    [InlineData("127.0.0.1:0")]
    [InlineData("[::1]:0")]
    public void Refuses_a_data_endpoint_that_is_not_host_and_port(string text) =>
        Assert.Contains($"'{text}' is not HOST:PORT", Assert.Throws<ArgumentException>(() => DataChannelAddress.ParseEndPoint(text)).Message);

    [Fact]
    public void Parses_a_pin_of_64_hex_digits_with_or_without_colons()
    {
        byte[] pin = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(pin, DataChannelAddress.ParsePin(Convert.ToHexStringLower(pin)));
        Assert.Equal(pin, DataChannelAddress.ParsePin(Convert.ToHexString(pin)));
        Assert.Equal(pin, DataChannelAddress.ParsePin(string.Join(':', pin.Select(b => b.ToString("X2")))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("0g00000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("000000000000000000000000000000000000000000000000000000000000000000")]
    public void Refuses_a_pin_that_is_not_a_sha256(string text) =>
        Assert.Contains("is not a SHA-256 in hex", Assert.Throws<ArgumentException>(() => DataChannelAddress.ParsePin(text)).Message);
}
