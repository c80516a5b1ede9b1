using System.Runtime;

namespace Teleport.Host.Worker;

/// <summary>
/// What the .NET runtime spent in this process up to a moment (methods JIT-compiled and the time it took, garbage
/// collections and the time they paused the process), so a cut-over can log what of its pause was the runtime's own.
/// </summary>
internal readonly record struct RuntimeCosts(long JitMethods, TimeSpan JitTime, int Collections, TimeSpan GcPause)
{
    public static RuntimeCosts Now() => new(JitInfo.GetCompiledMethodCount(), JitInfo.GetCompilationTime(), GC.CollectionCount(0), GC.GetTotalPauseDuration());

    public RuntimeCosts Since(RuntimeCosts earlier) =>
        new(JitMethods - earlier.JitMethods, JitTime - earlier.JitTime, Collections - earlier.Collections, GcPause - earlier.GcPause);
}
