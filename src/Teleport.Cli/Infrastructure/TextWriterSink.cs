using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace Teleport.Cli.Infrastructure;

/// <summary>Writes log events to a given writer (stderr in the tool, a buffer in tests).</summary>
internal sealed class TextWriterSink(TextWriter writer, ITextFormatter formatter) : ILogEventSink
{
    private readonly Lock _gate = new();

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            formatter.Format(logEvent, writer);
            writer.Flush();
        }
    }
}
