using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Teleport.Testing;

/// <summary>
/// A <c>teleport</c> command run as a child process (the built teleport.dll of this configuration), with its
/// output captured and its resident memory readable, so a test can attack it from outside as a peer would.
/// </summary>
public sealed class TeleportProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private TeleportProcess(Process process)
    {
        _process = process;
    }

    /// <summary>What it wrote so far (stdout and stderr).</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// TELEPORT_CLI_DLL if set (a teleport.dll built elsewhere), else the teleport.dll of this test assembly's
    /// configuration in the work tree (building a test project that references Teleport.Cli builds it).
    /// </summary>
    public static string Dll()
    {
        if (Environment.GetEnvironmentVariable("TELEPORT_CLI_DLL") is { Length: > 0 } given)
            return File.Exists(given) ? given : throw new InvalidOperationException($"TELEPORT_CLI_DLL '{given}' does not exist");
        string configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Teleport.sln")))
            {
                string dll = Path.Combine(dir.FullName, "src", "Teleport.Cli", "bin", configuration, "net10.0", "teleport.dll");
                return File.Exists(dll)
                    ? dll
                    : throw new InvalidOperationException($"{dll} is missing: build the solution (dotnet build -c {configuration}) before these tests");
            }
        }

        throw new InvalidOperationException($"no Teleport.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>Starts <c>teleport ARGS</c> with extra environment variables.</summary>
    public static TeleportProcess Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Dll());
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        var process = new Process { StartInfo = start };
        var child = new TeleportProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Its resident set size now (VmRSS of /proc/PID/status), in bytes.</summary>
    public long ResidentBytes() => TryResidentBytes() ?? throw new InvalidOperationException($"process {_process.Id} has ended");

    /// <summary>Runs <paramref name="during"/> while sampling the resident set every 50 ms; returns the highest sample.</summary>
    public async Task<long> PeakResidentBytesAsync(Func<Task> during)
    {
        long peak = ResidentBytes();
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && !_process.HasExited)
            {
                if (TryResidentBytes() is not { } now)
                    return; // it is exiting
                peak = Math.Max(peak, now);

                await Task.Delay(50, CancellationToken.None);
            }
        });
        try
        {
            await during();
        }
        finally
        {
            await stop.CancelAsync();
            await sampler;
        }

        return peak;
    }

    /// <summary>Waits until the output contains <paramref name="text"/>; throws when the process ends or the time is up.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > until)
                throw new InvalidOperationException($"teleport never printed '{text}' (exited: {_process.HasExited}): {Output}");
            await Task.Delay(50);
        }
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync().WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private long? TryResidentBytes()
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
            // Gone between the check and the read.
        }

        return null; // a process that is exiting has no resident set left
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }
}
