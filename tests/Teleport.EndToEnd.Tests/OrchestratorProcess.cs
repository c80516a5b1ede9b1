using System.Diagnostics;
using System.Text;
using Teleport.Testing;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// `teleport orchestrator` as a child process (the built teleport.dll of this configuration), so a test can kill -9
/// it and start it again on the same database and queue.
/// </summary>
public sealed class OrchestratorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output;

    private OrchestratorProcess(Process process, StringBuilder output)
    {
        _process = process;
        _output = output;
    }

    /// <summary>What it wrote (stdout and stderr: its log).</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The built teleport.dll (see <see cref="TeleportProcess.Dll"/>).</summary>
    public static string TeleportDll() => TeleportProcess.Dll();

    public static OrchestratorProcess Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(TeleportDll());
        start.ArgumentList.Add("orchestrator");
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new OrchestratorProcess(process, output);
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
            return;
        lock (output)
            output.AppendLine(line);
    }

    /// <summary>Waits until the log says the orchestrator runs (schema ready, bus started).</summary>
    public async Task WaitUntilRunningAsync(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!Output.Contains("Orchestrator running"))
        {
            if (_process.HasExited || DateTime.UtcNow > until)
                throw new InvalidOperationException($"teleport orchestrator did not start (exited: {_process.HasExited}): {Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: no shutdown, no flush, whatever it was doing stops mid-way.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as an operator's `systemctl stop` would; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            await KillAsync();
        _process.Dispose();
    }
}
