using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Teleport.Messaging;

namespace Teleport.Cli.Commands;

/// <summary>
/// <c>teleport replay --queue Q</c>: moves faulted messages from Q_error back to the queue they failed on (MassTransit's
/// MT-Fault-InputAddress header, else Q). A message is taken from Q_error unacknowledged, published to its queue
/// with a broker confirmation (mandatory: an unroutable message comes back as an error), and only then acknowledged,
/// so a crash at any point leaves it in Q_error or in both queues, never in neither.
/// </summary>
public sealed class ReplayCommand(CliConsole console) : OperatorAsyncCommand<ReplaySettings>(console)
{
    public const string ErrorSuffix = "_error";

    // Headers MassTransit added when it moved the message to _error: a replayed message starts clean.
    private static readonly string[] FaultHeaderPrefixes = ["MT-Fault-", "MT-Reason", "MT-Host-"];

    protected override async Task<int> RunAsync(ReplaySettings settings, CancellationToken cancellationToken)
    {
        string input = settings.InputQueue;
        string errorQueue = input + ErrorSuffix;
        await using (var connection = await ConnectAsync(OperatorBus.ForOperator(settings.Bus), cancellationToken))
        {
            await RequireQueueAsync(connection, errorQueue, $"there is no queue {errorQueue} (nothing has faulted on {input}, or --queue is mistyped)", cancellationToken);
            await using var channel = await connection.CreateChannelAsync(
                new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);

            // Take every ready message without acknowledging it: unacknowledged, it is not handed out again to us,
            // and whatever is not acknowledged goes back to Q_error when the channel closes.
            var taken = new List<BasicGetResult>();
            while (await channel.BasicGetAsync(errorQueue, autoAck: false, cancellationToken) is { } message)
                taken.Add(message);

            var chosen = settings.MessageId is null ? taken : taken.Where(m => m.BasicProperties.MessageId == settings.MessageId).ToList();
            if (settings.MessageId is not null && chosen.Count == 0)
            {
                await ReturnAllAsync(channel, taken, cancellationToken);
                throw new UserInputException($"no message {settings.MessageId} in {errorQueue} ({taken.Count} other message(s) left there)");
            }

            var results = await MoveAsync(connection, channel, chosen, settings, errorQueue, cancellationToken);
            await ReturnAllAsync(channel, settings.DryRun ? taken : taken.Except(chosen), cancellationToken);
            Print(settings, errorQueue, results);
            return ExitCodes.Success;
        }
    }

    private static async Task<IConnection> ConnectAsync(BusAddress bus, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory
        {
            HostName = bus.Broker!.Host, Port = bus.Port, VirtualHost = bus.VirtualHost, UserName = bus.User, Password = bus.Password,
            ClientProvidedName = "teleport replay",
        };
        try
        {
            return await factory.CreateConnectionAsync(cancellationToken);
        }
        catch (BrokerUnreachableException e)
        {
            throw new OperatorException($"cannot reach the broker at {bus}: {e.GetBaseException().Message}");
        }
    }

    /// <summary>Moves each chosen message to the queue it failed on (a dry run only describes it), acknowledging it in Q_error once confirmed.</summary>
    private static async Task<List<ReplayedMessage>> MoveAsync(IConnection connection, IChannel channel, List<BasicGetResult> chosen, ReplaySettings settings,
        string errorQueue, CancellationToken cancellationToken)
    {
        var targets = new HashSet<string>(StringComparer.Ordinal);
        var results = new List<ReplayedMessage>();
        foreach (var message in chosen)
        {
            string target = TargetQueue(message, settings.InputQueue);
            if (!settings.DryRun && targets.Add(target))
                await RequireQueueAsync(connection, target, $"the queue {target} that message {message.BasicProperties.MessageId} failed on does not exist", cancellationToken);
            if (!settings.DryRun)
            {
                try
                {
                    await channel.BasicPublishAsync("", target, mandatory: true, CleanProperties(message.BasicProperties), message.Body, cancellationToken);
                }
                catch (PublishException e)
                {
                    // Not confirmed (or returned as unroutable): it stays in Q_error, as do the ones not yet moved.
                    throw new OperatorException(
                        $"the broker did not take message {message.BasicProperties.MessageId} for {target} ({(e.IsReturn ? "unroutable" : "not confirmed")}); " +
                        $"it and {chosen.Count - results.Count - 1} other(s) stay in {errorQueue}; {results.Count} moved before it");
                }

                await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
            }

            results.Add(Describe(message, target, moved: !settings.DryRun));
        }

        return results;
    }

    private void Print(ReplaySettings settings, string errorQueue, List<ReplayedMessage> results)
    {
        if (settings.Json)
        {
            Console.WriteJson(new { errorQueue, dryRun = settings.DryRun, count = results.Count, messages = results });
            return;
        }

        if (results.Count == 0)
        {
            Console.Ui.MarkupLine($"nothing to replay in {Markup.Escape(errorQueue)}");
            return;
        }

        var table = new Table().Border(TableBorder.Simple);
        foreach (string? column in new[] { "MESSAGE ID", "TYPE", "TO", "FAULTED AT", "FAULT" })
            table.AddColumn(column);
        foreach (var r in results)
            table.AddRow(Markup.Escape(r.MessageId ?? "-"), Markup.Escape(r.MessageType), Markup.Escape(r.To), Markup.Escape(r.FaultedAt ?? "-"), Markup.Escape(r.FaultMessage ?? "-"));
        Console.Results.Write(table);
        Console.Ui.MarkupLine(settings.DryRun
            ? $"dry run: {results.Count} message(s) would be moved from {Markup.Escape(errorQueue)}; nothing was moved"
            : $"moved {results.Count} message(s) from {Markup.Escape(errorQueue)}");
    }

    // A passive declare fails (and closes its channel) when the queue does not exist: use a channel of its own.
    private static async Task RequireQueueAsync(IConnection connection, string queue, string problem, CancellationToken cancellationToken)
    {
        await using var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await probe.QueueDeclarePassiveAsync(queue, cancellationToken);
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            throw new UserInputException(problem);
        }
    }

    private static async Task ReturnAllAsync(IChannel channel, IEnumerable<BasicGetResult> messages, CancellationToken cancellationToken)
    {
        foreach (var message in messages)
            await channel.BasicNackAsync(message.DeliveryTag, multiple: false, requeue: true, cancellationToken);
    }

    /// <summary>The queue named by MT-Fault-InputAddress (its last path segment), else the given input queue.</summary>
    public static string TargetQueue(BasicGetResult message, string input)
    {
        string? address = Header(message.BasicProperties, "MT-Fault-InputAddress");
        if (address is not null && Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            string? name = uri.Segments.LastOrDefault()?.Trim('/');
            if (!string.IsNullOrEmpty(name))
                return Uri.UnescapeDataString(name);
        }

        return input;
    }

    private static BasicProperties CleanProperties(IReadOnlyBasicProperties original)
    {
        var properties = new BasicProperties(original);
        if (original.Headers is { } headers)
        {
            properties.Headers = headers
                .Where(h => !FaultHeaderPrefixes.Any(p => h.Key.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
                .ToDictionary(h => h.Key, h => h.Value);
        }

        return properties;
    }

    private static ReplayedMessage Describe(BasicGetResult message, string target, bool moved) => new(
        message.BasicProperties.MessageId, MessageType(message.Body.Span), target,
        Header(message.BasicProperties, "MT-Fault-Message"), Header(message.BasicProperties, "MT-Fault-Timestamp"), moved);

    private static string? Header(IReadOnlyBasicProperties properties, string name) =>
        properties.Headers is { } headers && headers.TryGetValue(name, out object? value)
            ? value switch
            {
                byte[] bytes => Encoding.UTF8.GetString(bytes),
                null => null,
                _ => value.ToString(),
            }
            : null;

    // MassTransit's JSON envelope names the type as urn:message:Namespace:Type; anything else is shown as unknown.
    private static string MessageType(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("messageType", out var types)
                && types.ValueKind == JsonValueKind.Array && types.GetArrayLength() > 0
                && types[0].GetString() is { } urn)
            {
                return urn[(urn.LastIndexOf(':') + 1)..];
            }
        }
        catch (JsonException)
        {
        }

        return "(unknown)";
    }
}
