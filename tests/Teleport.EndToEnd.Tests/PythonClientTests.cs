using System.Diagnostics;
using Teleport.Contracts;
using Teleport.EndToEnd.Tests.Fixtures;
using Xunit.Abstractions;

namespace Teleport.EndToEnd.Tests;

/// <summary>
/// examples/python/teleport_migrate.py, run by Debian's python3 with pika against the real broker: it starts a real
/// storage move in MassTransit's envelope and follows it to its outcome, which the C# side sees the same.
/// </summary>
public sealed class PythonClientTests(ITestOutputHelper output)
{
    private const long VolumeBytes = 4L << 20;

    [Fact]
    public async Task The_python_client_requests_a_migration_and_follows_it_to_success()
    {
        await using var rig = await VolumeMoveRig.StartAsync(VolumeBytes);
        var id = Guid.NewGuid();

        var (exit, stdout) = await RunAsync(rig, id, $"--volume-bytes {VolumeBytes}");

        Assert.True(exit == 0, $"exit {exit}: {stdout}");
        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"requested {id}", lines[0]);
        Assert.Contains(lines, l => l.StartsWith($"IndexStreamed volumeBytes={VolumeBytes} ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("CopyRoundCompleted round=", StringComparison.Ordinal));
        var succeeded = Assert.IsType<MigrationSucceeded>(await rig.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(30)));
        string outcome = $"MigrationSucceeded volumeBytes={VolumeBytes} bytesOnWire={succeeded.BytesOnWire} blocksFromIndex={succeeded.BlocksFromIndex} " +
                         $"rounds={succeeded.Rounds} downtimeMilliseconds=";
        Assert.StartsWith(outcome, lines[^1]);
        Assert.Equal(succeeded.DowntimeMilliseconds, double.Parse(lines[^1][outcome.Length..], System.Globalization.CultureInfo.InvariantCulture), 6);
        await rig.AssertMovedAsync();
    }

    [Fact]
    public async Task A_request_for_a_VM_the_host_does_not_run_ends_in_MigrationFailed_with_exit_1()
    {
        await using var rig = await VolumeMoveRig.StartAsync(VolumeBytes);
        var id = Guid.NewGuid();

        // The host worker acts only on the VMs its configuration names: the move rolls back and fails.
        var (exit, stdout) = await RunAsync(rig, id, "--vm ghost");

        Assert.True(exit == 1, $"exit {exit}: {stdout}");
        var failed = Assert.IsType<MigrationFailed>(await rig.Watch.OutcomeAsync(id, TimeSpan.FromSeconds(30)));
        Assert.EndsWith($"MigrationFailed phase={failed.Phase} reason={failed.Reason}", stdout.TrimEnd());
        Assert.Equal(rig.Source.Id, rig.Host.Node.Vms[VolumeMoveRig.VmId].CurrentStorageId);
    }

    private async Task<(int Exit, string Stdout)> RunAsync(VolumeMoveRig rig, Guid id, string extra)
    {
        string python = TestEnvironment.Require("TELEPORT_PYTHON3", "22-python-pika.sh (python3-pika)");
        string script = Path.Combine(AppContext.BaseDirectory, "python", "teleport_migrate.py");
        // Sent to this rig's orchestrator queue: published, it would reach every orchestrator on the shared broker.
        var start = new ProcessStartInfo(python,
            $"{script} --bus {TestBroker.Operator} --orchestrator-queue {rig.Orchestrator.Options.QueueName} --migration-id {id} " +
            $"--volume {VolumeMoveRig.Volume} --from {rig.Source.Id} --to {rig.Destination.Id} --host {rig.Host.Id} " +
            $"--timeout 120 {(extra.Contains("--vm ") ? "" : $"--vm {VolumeMoveRig.VmId} ")}{extra}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {python}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            Assert.Fail($"the python client did not end within 180 s: {await stdout}{await stderr}");
        }

        output.WriteLine($"python exit {process.ExitCode}{Environment.NewLine}{await stdout}{await stderr}");
        return (process.ExitCode, await stdout);
    }
}
