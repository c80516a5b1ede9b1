using MassTransit;

namespace Teleport.Messaging;

/// <summary>
/// Declares every receive endpoint of a role as a quorum queue (Bus address <c>queues=quorum</c>): on a RabbitMQ
/// cluster a quorum queue is replicated, so losing the node that holds it loses no command or event.
/// </summary>
/// <remarks>
/// A role's endpoints are all durable and shared (a worker's command queue, the orchestrators' queue), which quorum
/// queues require; the bus's own temporary queue is not a receive endpoint and stays classic.
/// </remarks>
internal sealed class QuorumQueueObserver : IEndpointConfigurationObserver
{
    public void EndpointConfigured<T>(T configurator)
        where T : IReceiveEndpointConfigurator
    {
        if (configurator is IRabbitMqReceiveEndpointConfigurator rabbit)
            rabbit.SetQuorumQueue();
    }
}
