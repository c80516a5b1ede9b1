namespace Teleport.Messaging;

/// <summary>
/// Where a role sends a command for a worker's (or the orchestrators') queue. With classic queues, <c>queue:NAME</c>:
/// the sender declares the queue too, so a command waits for a worker that has not started yet. With quorum queues,
/// <c>exchange:NAME</c>: MassTransit would declare the queue as classic, which the broker refuses for a quorum queue
/// of that name (406 PRECONDITION_FAILED); the worker declares its quorum queue and the binding when it starts, and
/// a command to a worker that never started is lost until the saga's nudge sends it again.
/// </summary>
public sealed class CommandAddresses(bool quorumQueues)
{
    /// <summary>Classic queues: what a role uses when its bus registration names nothing else.</summary>
    public static CommandAddresses Classic { get; } = new(false);

    public Uri For(string queue) => new(quorumQueues ? $"exchange:{queue}" : $"queue:{queue}");
}
