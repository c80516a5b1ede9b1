namespace Teleport.Host.Worker;

/// <summary>How the rehearsal's QMP peer misbehaves (tests: a rehearsal that fails or hangs must harm nothing).</summary>
/// <param name="Refuse">A command answered with an error.</param>
/// <param name="Withhold">A command never answered.</param>
internal sealed record RehearsalScript(string? Refuse = null, string? Withhold = null)
{
    public static readonly RehearsalScript Faithful = new();
}
