namespace Teleport.Orchestrator.Tests;

public sealed class DowntimePredictorTests
{
    private static readonly DowntimeModel Model = new() { LocalMilliseconds = 20, CutOverRoundTrips = 2 };

    [Fact]
    public void The_fixed_part_is_the_local_steps_and_the_cut_overs_round_trips()
    {
        var p = DowntimePredictor.Predict(new CopyFigures(0, 0, 4096, 12_500_000, 50), Model);
        Assert.Equal(120, p.FixedMilliseconds);
        Assert.Equal(0, p.TransferMilliseconds);
        Assert.Equal(120, p.TotalMilliseconds);
    }

    [Fact]
    public void A_cut_over_the_host_carries_itself_waits_on_no_round_trip_unless_configured()
    {
        // The export was selected before the pause: stop, a local swap and cont.
        var figures = new CopyFigures(0, 0, 4096, 12_500_000, 50);
        Assert.Equal(20, DowntimePredictor.Predict(figures, new DowntimeModel(), local: true).FixedMilliseconds);
        var model = new DowntimeModel { LocalMilliseconds = 20, CutOverRoundTrips = 2, LocalCutOverRoundTrips = 1 };
        Assert.Equal(70, DowntimePredictor.Predict(figures, model, local: true).FixedMilliseconds);
        Assert.Equal(120, DowntimePredictor.Predict(figures, model).FixedMilliseconds);
    }

    [Fact]
    public void The_final_round_carries_the_dirty_set_plus_what_the_guest_dirties_during_one_round_trip()
    {
        // 100 dirty blocks + 1,000/s x 50 ms = 150 blocks of 4,096 wire bytes over 12.5 MB/s (100 Mbit/s): 49.152 ms.
        var p = DowntimePredictor.Predict(new CopyFigures(100, 1_000, 4096, 12_500_000, 50), Model);
        Assert.Equal(120, p.FixedMilliseconds);
        Assert.Equal(49.152, p.TransferMilliseconds, precision: 6);
    }

    [Fact]
    public void A_cheaper_wire_cost_per_block_and_a_faster_link_shrink_the_transfer_part()
    {
        var slow = DowntimePredictor.Predict(new CopyFigures(1_000, 0, 4096, 1_000_000, 0), Model);
        var compressed = DowntimePredictor.Predict(new CopyFigures(1_000, 0, 1024, 1_000_000, 0), Model);
        var fast = DowntimePredictor.Predict(new CopyFigures(1_000, 0, 4096, 100_000_000, 0), Model);
        Assert.Equal(4096, slow.TransferMilliseconds, precision: 6);
        Assert.Equal(1024, compressed.TransferMilliseconds, precision: 6);
        Assert.Equal(40.96, fast.TransferMilliseconds, precision: 6);
        Assert.Equal(20, slow.FixedMilliseconds);
    }

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(12_500_000, 0)]
    public void Before_any_round_measured_the_link_only_the_fixed_part_is_predicted(double rate, double wirePerBlock)
    {
        var p = DowntimePredictor.Predict(new CopyFigures(500, 100, wirePerBlock, rate, 10), Model);
        Assert.Equal(40, p.TotalMilliseconds);
    }

    [Fact]
    public void Negative_figures_count_as_none()
    {
        var p = DowntimePredictor.Predict(new CopyFigures(-5, -100, 4096, 1_000_000, -3), Model);
        Assert.Equal(20, p.TotalMilliseconds);
    }
}
