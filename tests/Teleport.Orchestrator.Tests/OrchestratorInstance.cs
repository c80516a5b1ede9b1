using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// One orchestrator process as a host would run it: its hosted services (schema upgrade, deadline sweeper, the
/// bus) started in order and stopped in reverse; counts the messages it consumed.
/// </summary>
public sealed class OrchestratorInstance(ServiceProvider provider) : IAsyncDisposable, IConsumeObserver
{
    private readonly List<IHostedService> _started = [];
    private int _handled;

    public int Handled => Volatile.Read(ref _handled);

    /// <summary>Messages that faulted at this instance (for failure messages).</summary>
    public string Faults => string.Join("; ", _faults);

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _faults = new();

    public async Task StartAsync()
    {
        provider.GetRequiredService<IBusControl>().ConnectConsumeObserver(this);
        foreach (var service in provider.GetServices<IHostedService>())
        {
            await service.StartAsync(CancellationToken.None);
            _started.Add(service);
        }
    }

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        Interlocked.Increment(ref _handled);
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class
    {
        _faults.Enqueue($"{typeof(T).Name}: {exception.Message}");
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in Enumerable.Reverse(_started))
        {
            await service.StopAsync(CancellationToken.None);
        }

        await provider.DisposeAsync();
    }
}
