namespace Teleport.Host.Relay;

/// <summary>
/// Where the destination's listener leaves a resumed connection for its channel: the newest one wins (an older one
/// waiting is closed), the channel's current link is ended, and the channel answers it with what it received.
/// </summary>
internal sealed class ResumeMailbox(UInt128 token, TimeSpan answerTimeout)
{
    private readonly Lock _lock = new();
    private RelayLink? _pending;
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public RelayChannel? Channel { get; set; }

    public void Offer(RelayLink link)
    {
        // The old link first: the channel may pick up the new one the moment it is here.
        Channel?.Interrupt();
        lock (_lock)
        {
            _pending?.Stream.Dispose();
            _pending = link;
            _arrived.TrySetResult();
        }
    }

    /// <summary>The channel's next link: waits for a resume, then answers it with <paramref name="received"/>.</summary>
    public async Task<RelayLink> NextAsync(long received, CancellationToken cancellationToken)
    {
        while (true)
        {
            RelayLink? link;
            Task arrived;
            lock (_lock)
            {
                link = _pending;
                _pending = null;
                if (link is null)
                    arrived = _arrived.Task;
                else
                {
                    _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
                    arrived = Task.CompletedTask;
                }
            }

            if (link is null)
            {
                await arrived.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            answer.CancelAfter(answerTimeout);
            try
            {
                await link.Stream.WriteAsync(RelayHello.Reply(RelayHello.Accepted, token, received), answer.Token).ConfigureAwait(false);
                return link;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // That connection died before it was answered: wait for the next.
                await link.Stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
