namespace Teleport.Cli.Tests;

/// <summary>
/// The demo's end-to-end tests run alone, after the parallel ones: each run of the command tree points the
/// process-wide Serilog logger at its own stderr for ~10 s and keeps both cores busy, which would steal the log lines
/// and the timing other command tests assert on.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DemoCollection
{
    public const string Name = "teleport demo, alone";
}
