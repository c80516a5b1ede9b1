using Teleport.Host.Hypervisor;
using Teleport.Testing;

namespace Teleport.Host.Tests;

/// <summary>
/// <c>cont</c> on an incoming QEMU whose migration is still arriving (a WAN one-way trip after the source reported
/// 'completed'), with two real empty QEMU machines migrating over loopback TCP.
/// </summary>
public sealed class IncomingResumeTests : IDisposable
{
    private static readonly string[] EmptyMachine = QmpHypervisorTests.EmptyMachine;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task A_resume_before_the_migration_arrived_waits_for_it_and_the_vm_then_runs()
    {
        await using var source = await QemuProcess.StartAsync(_dir.File("src.sock"), EmptyMachine);
        await using var incoming = await QemuProcess.StartAsync(_dir.File("dst.sock"), [.. EmptyMachine, "-incoming", "defer"]);
        await using var src = await QmpHypervisor.ConnectAsync(source.QmpSocket);
        await using var dst = await QmpHypervisor.ConnectAsync(incoming.QmpSocket);
        await src.ResumeAsync();
        string uri = $"tcp:127.0.0.1:{FreePort.Next()}";
        await dst.Client.ExecuteAsync("migrate-incoming", new Dictionary<string, object?> { ["uri"] = uri });

        var resume = dst.ResumeAsync();
        await Task.Delay(300);
        Assert.False(resume.IsCompleted, "the resume returned before any migration data arrived");

        await src.Client.ExecuteAsync("migrate", new Dictionary<string, object?> { ["uri"] = uri });
        await resume.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(new VmStatus(true, "running"), await dst.QueryStatusAsync());
        Assert.Equal("postmigrate", (await src.QueryStatusAsync()).State);
    }

    [Fact]
    public async Task A_resume_whose_migration_never_arrives_fails_and_the_vm_does_not_start_by_itself_later()
    {
        await using var source = await QemuProcess.StartAsync(_dir.File("src.sock"), EmptyMachine);
        await using var incoming = await QemuProcess.StartAsync(_dir.File("dst.sock"), [.. EmptyMachine, "-incoming", "defer"]);
        await using var src = await QmpHypervisor.ConnectAsync(source.QmpSocket);
        await using var dst = await QmpHypervisor.ConnectAsync(incoming.QmpSocket, new QmpOptions { IncomingCompletionTimeout = TimeSpan.FromSeconds(1) });
        await src.ResumeAsync();
        string uri = $"tcp:127.0.0.1:{FreePort.Next()}";
        await dst.Client.ExecuteAsync("migrate-incoming", new Dictionary<string, object?> { ["uri"] = uri });

        var e = await Assert.ThrowsAsync<TimeoutException>(() => dst.ResumeAsync());
        Assert.Contains("still receives its incoming migration", e.Message);

        // The migration that arrives after the failed resume completes, and the VM stays stopped: the saga was told
        // it did not resume, so it must not start here on its own.
        await src.Client.ExecuteAsync("migrate", new Dictionary<string, object?> { ["uri"] = uri });
        await Poll.Until(() => Completed(dst), "the incoming migration to complete", TimeSpan.FromSeconds(20));
        var status = await dst.QueryStatusAsync();
        Assert.False(status.Running, $"the incoming VM started by itself ({status.State})");
    }

    private static bool Completed(QmpHypervisor vm)
    {
        var info = vm.Client.ExecuteAsync("query-migrate").GetAwaiter().GetResult();
        return info.TryGetProperty("status", out var status) && status.GetString() == "completed";
    }
}
