namespace Teleport.Host.Worker;

/// <summary>What a <see cref="CutOverRehearsal"/> did: whether the cut-over ran through (else why not), what it JIT-compiled and how long it took.</summary>
internal sealed record RehearsalOutcome(bool Succeeded, string? Failure, long JitMethods, TimeSpan Took);
