using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Teleport.Testing;

/// <summary>
/// A logger provider that keeps every entry, so tests can check what operators would read: as formatted lines
/// (<see cref="Lines"/>) and with their category and the scope values active when written (<see cref="Entries"/>).
/// </summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<string> _lines = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    /// <summary>Every entry as "Level: message".</summary>
    public IReadOnlyCollection<string> Lines => _lines;

    public ConcurrentQueue<(string Category, string Message, IReadOnlyDictionary<string, object?> Scope)> Entries { get; } = new();

    /// <summary>Called with every line as it is written, on the writer's thread: a test can act at the exact step a role logs.</summary>
    public event Action<string>? Written;

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string category, LogLevel level, string message)
    {
        var scope = new Dictionary<string, object?>();
        _scopes.ForEachScope((value, values) =>
        {
            if (value is IEnumerable<KeyValuePair<string, object>> pairs)
            {
                foreach (var (key, v) in pairs)
                {
                    values[key] = v;
                }
            }
        }, scope);
        Entries.Enqueue((category, message, scope));
        string line = $"{level}: {message}";
        _lines.Enqueue(line);
        Written?.Invoke(line);
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Add(category, logLevel, formatter(state, exception));
    }
}
