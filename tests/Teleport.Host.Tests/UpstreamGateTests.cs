using Teleport.Host.Switching;

namespace Teleport.Host.Tests;

public sealed class UpstreamGateTests
{
    [Fact]
    public async Task Close_CompletesWhenTheLastRequestLeaves_NewRequestsWaitForOpen()
    {
        var gate = new UpstreamGate();
        await gate.EnterAsync(CancellationToken.None);
        await gate.EnterAsync(CancellationToken.None);

        var drained = gate.CloseAsync();
        var late = gate.EnterAsync(CancellationToken.None).AsTask();
        Assert.False(drained.IsCompleted);
        gate.Exit();
        Assert.False(drained.IsCompleted);
        gate.Exit();
        await drained.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(late.IsCompleted, "a request arriving during the switch is held");
        Assert.Equal(0, gate.InFlight);

        gate.Open();
        await late.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, gate.InFlight);
    }

    [Fact]
    public async Task Close_WithNothingInFlight_IsImmediate_AndCannotBeNested()
    {
        var gate = new UpstreamGate();
        Assert.True(gate.CloseAsync().IsCompletedSuccessfully);
        Assert.Throws<InvalidOperationException>(() => { _ = gate.CloseAsync(); });

        using var cancel = new CancellationTokenSource();
        var held = gate.EnterAsync(cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held);
        Assert.Equal(0, gate.InFlight);
        gate.Open();
    }
}
