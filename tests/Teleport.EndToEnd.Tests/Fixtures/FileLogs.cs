using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// Every part's log lines (Debug and up) in one file, with millisecond UTC timestamps: set TELEPORT_E2E_LOG=FILE to
/// see what the saga and the workers did in a run (<see cref="FromEnvironment"/>).
/// </summary>
public sealed class FileLogs(string path) : ILoggerProvider
{
    private readonly Lock _write = new();
    private readonly ConcurrentDictionary<string, Logger> _loggers = new();

    public static FileLogs? FromEnvironment() =>
        Environment.GetEnvironmentVariable("TELEPORT_E2E_LOG") is { Length: > 0 } path ? new FileLogs(path) : null;

    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, c => new Logger(this, c));

    private void Write(string line)
    {
        lock (_write)
            File.AppendAllText(path, line + Environment.NewLine);
    }

    public void Dispose()
    {
    }

    private sealed class Logger(FileLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                owner.Write($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
        }
    }
}
