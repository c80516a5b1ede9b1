using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Teleport.Contracts.Tests.Broker;

/// <summary>
/// A raw AMQP channel as one role's broker user (a rogue publisher holding that role's credentials), with publisher
/// confirms, reporting whether the broker allowed each operation or closed the channel with 403 ACCESS_REFUSED.
/// </summary>
public sealed class RoleChannel : IAsyncDisposable
{
    private static readonly TimeSpan Verdict = TimeSpan.FromSeconds(15);
    private readonly IConnection _connection;
    private IChannel _channel;

    private RoleChannel(IConnection connection, IChannel channel) => (_connection, _channel) = (connection, channel);

    public static async Task<RoleChannel> OpenAsync(string address)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(address) }.CreateConnectionAsync();
        return new RoleChannel(connection, await OpenChannel(connection));
    }

    /// <summary>Publishes a small body to <paramref name="exchange"/>; true when the broker confirmed it.</summary>
    public Task<bool> TryPublishAsync(string exchange) => Try(c => c.BasicPublishAsync(exchange, "", false, new BasicProperties(), "{}"u8.ToArray()).AsTask());

    /// <summary>Declares a queue (configure permission); true when allowed.</summary>
    public Task<bool> TryDeclareQueueAsync(string queue) => Try(c => c.QueueDeclareAsync(queue, durable: false, exclusive: false, autoDelete: true));

    /// <summary>Starts consuming <paramref name="queue"/> (read permission); true when allowed.</summary>
    public Task<bool> TryConsumeAsync(string queue) => Try(c => c.BasicConsumeAsync(queue, autoAck: false, new AsyncEventingBasicConsumer(c)));

    private async Task<bool> Try(Func<IChannel, Task> operation)
    {
        using var timeout = new CancellationTokenSource(Verdict);
        try
        {
            await operation(_channel).WaitAsync(timeout.Token);
            return true;
        }
        catch (Exception e) when (e is OperationInterruptedException or AlreadyClosedException or PublishException)
        {
            ushort code = _channel.CloseReason?.ReplyCode ?? (e as OperationInterruptedException)?.ShutdownReason?.ReplyCode ?? 0;
            if (code != 403)
                throw new InvalidOperationException($"the broker refused with {code}, not 403 ACCESS_REFUSED", e);
            // A refusal closes the channel: the next operation gets a fresh one.
            _channel = await OpenChannel(_connection);
            return false;
        }
    }

    private static Task<IChannel> OpenChannel(IConnection connection) =>
        connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));

    public async ValueTask DisposeAsync()
    {
        await _channel.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
