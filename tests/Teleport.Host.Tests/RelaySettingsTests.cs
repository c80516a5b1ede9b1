using Teleport.Host.Relay;

namespace Teleport.Host.Tests;

/// <summary>
/// The source's retention per channel follows the move's bandwidth cap: enough for the cap's bandwidth-delay product,
/// no more queue than that in front of a post-copy page fault.
/// </summary>
public sealed class RelaySettingsTests
{
    [Theory]
    [InlineData(2_500_000L, 625_000)] // 20 Mbit/s: a quarter second of it
    [InlineData(12_500_000L, 3_125_000)] // 100 Mbit/s
    [InlineData(100_000L, 256 << 10)] // a trickle still keeps 256 KiB in flight
    [InlineData(10_000_000_000L, 64 << 20)] // 80 Gbit/s: capped at 64 MiB
    public void A_capped_move_retains_a_quarter_second_of_its_cap_within_bounds(long bandwidth, int expected) =>
        Assert.Equal(expected, RelaySettings.RetainBytesFor(bandwidth));

    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    public void An_uncapped_move_retains_enough_for_a_fast_long_link(long? bandwidth) =>
        Assert.Equal(16 << 20, RelaySettings.RetainBytesFor(bandwidth));
}
