using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>The handshake rehearsed in memory before the first real connection of a process.</summary>
public sealed class HandshakeRehearsalTests
{
    [Fact]
    public async Task The_rehearsal_runs_both_real_handshakes_to_the_resume()
    {
        long bytes = await HandshakeRehearsal.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        // Every frame of the exchange crossed: Hello, Challenge, both proofs and Resume, each with its header.
        int[] payloads = [HelloMessage.Size, ChallengeMessage.Size, ProofMessage.Size, ProofMessage.Size, ResumeMessage.Size];
        Assert.Equal(payloads.Sum(p => ProtocolConstants.HeaderSize + p), bytes);
    }

    [Fact]
    public async Task A_cancelled_rehearsal_ends_without_an_exchange()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => HandshakeRehearsal.RunAsync(cancelled.Token));
    }

    [Fact]
    public async Task A_process_rehearses_once_and_the_warm_up_never_throws()
    {
        var first = HandshakeRehearsal.WarmOnce(NullLogger.Instance);

        Assert.Same(first, HandshakeRehearsal.WarmOnce(NullLogger.Instance));
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(first.IsCompletedSuccessfully);
    }
}
