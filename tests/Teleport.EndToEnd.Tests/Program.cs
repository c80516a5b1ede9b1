namespace Teleport.EndToEnd.Tests;

/// <summary>
/// The test assembly's entry point. Test runners never call it; infra/bench/downtime.sh runs
/// <c>dotnet Teleport.EndToEnd.Tests.dll downtime [--runs N] [--mode idle|writing|both]</c>.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["downtime", .. var rest])
            return await DowntimeBenchmark.RunAsync(rest, Console.Out, Console.Error);
        Console.Error.WriteLine("usage: Teleport.EndToEnd.Tests downtime [--runs N] [--mode idle|writing|both] [--json FILE]");
        return 2;
    }
}
