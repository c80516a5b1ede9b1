using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Teleport.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project tests/Teleport.Benchmarks -- memory 10000000</c> measures index size;
/// <c>-- scale 200000000</c> the on-disk index at scale (memory per entry, build, open, lookup rates);
/// <c>-- engine build|read NAME N DIR</c> one side of the index engine comparison (infra/bench/index-engines.sh);
/// <c>-- buddies BASE TARGET</c> the WAN bytes of a destination whose buddy holds the base against one holding it itself;
/// <c>-- chart results.tsv docs/wan-benchmark.png</c> draws the WAN benchmark (infra/bench/wan-bench.sh);
/// anything else goes to BenchmarkDotNet, e.g. <c>-- --filter '*'</c> or <c>-- --filter '*Sha256*'</c>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "memory")
            return IndexMemoryMeasurement.Run(args.Length > 1 ? long.Parse(args[1]) : 10_000_000);
        if (args.Length > 0 && args[0] == "scale")
            return IndexScaleMeasurement.Run(args.Length > 1 ? long.Parse(args[1]) : 10_000_000);
        if (args.Length > 0 && args[0] == "engine")
            return Engines.IndexEngineComparison.Run(args[1..]);
        if (args.Length > 0 && args[0] == "buddies")
            return BuddyMeasurement.Run(args[1..]);
        if (args.Length > 0 && args[0] == "chart")
            return WanChart.Run(args[1..]);
        // Short runs: the machine's cores are shared, and these figures need a ballpark, not a paper.
        var config = DefaultConfig.Instance
            .AddJob(Job.ShortRun.WithWarmupCount(1).WithIterationCount(3).WithLaunchCount(1))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator);
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
