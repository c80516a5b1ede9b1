using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Teleport.Cli.Hosting;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport storage` itself, run in-process until its cancellation token fires: qemu-io (TELEPORT_QEMU_IO from
/// infra/test.sh) reads and writes its export, and it stops cleanly with exit code 0.
/// </summary>
public sealed class StorageWorkerRunTests : IDisposable
{
    private readonly string _volumes = Directory.CreateTempSubdirectory("teleport-storage-run-").FullName;

    public void Dispose() => Directory.Delete(_volumes, recursive: true);

    [Fact]
    public async Task Serves_the_volume_directory_to_qemu_io_and_stops_cleanly_when_cancelled()
    {
        string volume = Path.Combine(_volumes, "lamp.img");
        using (var file = File.Create(volume))
            file.SetLength(4 << 20);
        File.WriteAllText(Path.Combine(_volumes, "notes.txt"), "not a volume");
        int port = FreePort.Next();
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => TeleportApp.Run(
            ["storage", "--id", "cli-run", "--volumes", _volumes, "--nbd-listen", $"127.0.0.1:{port}", "--data-listen", "127.0.0.1:0", "--bus", "memory"],
            stdout, stderr, interactive: false, stop.Token));

        try
        {
            await WaitForListener(port, run);
            string url = $"nbd://127.0.0.1:{port}/lamp";
            await QemuIo(url, "write -P 0xab 0 64k", "write -z 1M 64k", "read -P 0xab 0 64k", "read -P 0 1M 64k", "flush");
            await QemuIo(url, "read -P 0xab 4k 4k");
            var missing = await QemuIoResult($"nbd://127.0.0.1:{port}/notes");
            Assert.NotEqual(0, missing.ExitCode); // only NAME.img files are volumes
        }
        finally
        {
            await stop.CancelAsync();
        }

        int exit = await run.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        byte[] bytes = File.ReadAllBytes(volume);
        Assert.All(bytes.AsSpan(0, 64 << 10).ToArray(), b => Assert.Equal(0xab, b));
        Assert.Equal(4 << 20, bytes.Length);
        // The worker is gone: nothing listens any more.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.ThrowsAny<SocketException>(() => probe.Connect(IPAddress.Loopback, port));
        Assert.True(File.Exists(Path.Combine(_volumes, ".teleport", "data-channel.pfx")), "the generated data-channel certificate is kept in the state directory");
    }

    [Fact]
    public void Settings_come_from_json_then_environment_then_flags()
    {
        string json = Path.Combine(_volumes, "storage.json");
        File.WriteAllText(json, $$"""
            { "Storage": { "StorageId": "from-json", "VolumeDirectory": "{{_volumes}}", "NbdListen": "127.0.0.1:1001",
                           "AdvertiseHost": "json.example", "DataChannelTls": false, "IndexDebounce": "00:00:05" } }
            """);
        const string AdvertiseVariable = "TELEPORT_STORAGE__ADVERTISEHOST";
        const string NbdVariable = "TELEPORT_STORAGE__NBDLISTEN";
        Environment.SetEnvironmentVariable(AdvertiseVariable, "env.example");
        Environment.SetEnvironmentVariable(NbdVariable, "127.0.0.1:1002");
        try
        {
            var configuration = RoleConfiguration.Read(json, new Dictionary<string, string?> { ["Storage:NbdListen"] = "127.0.0.1:1003" });
            var options = new StorageHost().Options(configuration);

            Assert.Equal("from-json", options.StorageId);
            Assert.Equal("env.example", options.AdvertiseHost);
            Assert.Equal("127.0.0.1:1003", options.NbdListen);
            Assert.False(options.DataChannelTls);
            Assert.Equal(TimeSpan.FromSeconds(5), options.IndexDebounce);
        }
        finally
        {
            Environment.SetEnvironmentVariable(AdvertiseVariable, null);
            Environment.SetEnvironmentVariable(NbdVariable, null);
        }
    }

    private static async Task WaitForListener(int port, Task<int> run)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(run.IsCompleted, $"teleport storage ended early with exit code {(run.IsCompleted ? run.Result : 0)}");
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }
        }
    }

    private static async Task QemuIo(string url, params string[] commands)
    {
        var result = await QemuIoResult(url, commands);
        Assert.True(result.ExitCode == 0 && !result.Output.Contains("Pattern verification failed", StringComparison.Ordinal),
            $"qemu-io {string.Join(" ; ", commands)} failed ({result.ExitCode}): {result.Output}");
    }

    internal static async Task<(int ExitCode, string Output)> QemuIoResult(string url, params string[] commands)
    {
        var start = new ProcessStartInfo(TestEnvironment.QemuIo) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-f");
        start.ArgumentList.Add("raw");
        foreach (string command in commands)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(command);
        }

        start.ArgumentList.Add(url);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output + await error);
    }
}
