namespace Teleport.Host.Relay;

/// <summary>The channels one relay opened and the tasks carrying them: closed and awaited together when the relay goes.</summary>
internal sealed class RelayChannels : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<(RelayChannel Channel, Task Running)> _channels = [];

    public int Count
    {
        get
        {
            lock (_lock)
                return _channels.Count;
        }
    }

    public IReadOnlyList<RelayChannel> All
    {
        get
        {
            lock (_lock)
                return [.. _channels.Select(c => c.Channel)];
        }
    }

    public void Add(RelayChannel channel, Task running)
    {
        lock (_lock)
            _channels.Add((channel, running));
    }

    public async ValueTask DisposeAsync()
    {
        (RelayChannel Channel, Task Running)[] all;
        lock (_lock)
            all = [.. _channels];
        foreach (var (channel, running) in all)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
            await running.ConfigureAwait(false);
        }
    }
}
