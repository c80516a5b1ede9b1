using System.Text.Json;
using System.Text.Json.Serialization;

namespace Teleport.Cli.Infrastructure;

/// <summary>
/// Where a command's output goes: results (tables, JSON) on stdout so they can be piped;
/// progress, prompts and errors on stderr, with live progress bars only when a person is watching.
/// </summary>
public sealed class CliConsole
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase), new HexBytesConverter() },
    };

    public CliConsole(TextWriter stdout, TextWriter stderr, bool interactive)
    {
        Out = stdout;
        IsInteractive = interactive;
        Ui = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Yes : InteractionSupport.No,
        });
        Results = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        // Piped tables and logged errors should not wrap at the 80 columns Spectre assumes without a terminal.
        Results.Profile.Width = Math.Max(Results.Profile.Width, 160);
        if (!interactive)
            Ui.Profile.Width = 1000;
    }

    /// <summary>Raw stdout.</summary>
    public TextWriter Out { get; }

    /// <summary>Progress, status and errors (stderr).</summary>
    public IAnsiConsole Ui { get; }

    /// <summary>Human-readable results such as tables (stdout, plain).</summary>
    public IAnsiConsole Results { get; }

    /// <summary>True when stderr is a terminal a person watches (live progress bars are drawn).</summary>
    public bool IsInteractive { get; }

    /// <summary>Writes one JSON object on one line of stdout.</summary>
    public void WriteJson<T>(T value)
    {
        Out.WriteLine(JsonSerializer.Serialize(value, Json));
        Out.Flush();
    }
}
