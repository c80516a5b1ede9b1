using System.Text;
using Teleport.Host.Hypervisor;
using Teleport.Host.Tests.Support;

namespace Teleport.Host.Tests;

/// <summary>QMP against a real qemu-system-x86_64 (an empty machine, no guest) and against broken sockets.</summary>
public sealed class QmpHypervisorTests : IDisposable
{
    /// <summary>QEMU with no guest: enough for QMP, run state and migration.</summary>
    internal static readonly string[] EmptyMachine = ["-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S"];
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Connect_Negotiates_AndReportsPrelaunch()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), EmptyMachine);
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket);

        var status = await vm.QueryStatusAsync();

        Assert.False(status.Running);
        Assert.Equal("prelaunch", status.State);
        Assert.Matches(@"^\d+\.\d+\.\d+$", vm.Client.QemuVersion);
    }

    [Fact]
    public async Task ResumeAndPause_ChangeTheState_AndRaiseResumeAndStopEvents()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), EmptyMachine);
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket);
        var changes = new List<VmStateChange>();
        vm.StateChanged += c =>
        {
            lock (changes)
            {
                changes.Add(c);
            }
        };

        var resumed = vm.Client.WaitForEventAsync("RESUME");
        await vm.ResumeAsync();
        Assert.True((await vm.QueryStatusAsync()).Running);
        var resume = await resumed.WaitAsync(TimeSpan.FromSeconds(10));

        var stopped = vm.Client.WaitForEventAsync("STOP");
        await vm.PauseAsync();
        var paused = await vm.QueryStatusAsync();
        var stop = await stopped.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(paused.Running);
        Assert.Equal("paused", paused.State);
        Assert.True(stop.Timestamp >= resume.Timestamp);
        Assert.True(Math.Abs((DateTimeOffset.UtcNow - stop.Timestamp).TotalMinutes) < 5, "QEMU's event timestamp is parsed as wall-clock time");

        // Pausing a paused VM and resuming twice are harmless.
        await vm.PauseAsync();
        await vm.ResumeAsync();
        await vm.ResumeAsync();
        Assert.True((await vm.QueryStatusAsync()).Running);
        lock (changes)
        {
            Assert.True(changes.Count >= 3);
            Assert.Equal([true, false], changes.Take(2).Select(c => c.Running));
        }
    }

    [Fact]
    public async Task UnknownCommand_ThrowsQmpException_AndTheConnectionStaysUsable()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), EmptyMachine);
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket);

        var e = await Assert.ThrowsAsync<QmpException>(() => vm.Client.ExecuteAsync("no-such-command"));
        Assert.Equal("CommandNotFound", e.ErrorClass);
        Assert.Equal("no-such-command", e.Command);
        Assert.False((await vm.QueryStatusAsync()).Running);
    }

    [Fact]
    public async Task FrozenQemu_CommandTimesOut_ThenWorksAgainWhenQemuContinues()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), EmptyMachine);
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket, new QmpOptions { CommandTimeout = TimeSpan.FromSeconds(3) });

        await vm.ResumeAsync();
        await qemu.SignalAsync("STOP");
        var e = await Assert.ThrowsAsync<TimeoutException>(() => vm.PauseAsync());
        Assert.Contains("'stop'", e.Message);
        await qemu.SignalAsync("CONT");

        // The late answer to the timed-out command is dropped; the next command gets its own answer
        // (and shows the 'stop' itself did run once QEMU continued).
        var status = await vm.QueryStatusAsync();
        Assert.Equal("paused", status.State);
    }

    [Fact]
    public async Task QemuKilled_PendingAndLaterCallsFailWithConnectionError_NotATimeout()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), EmptyMachine);
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.QmpSocket, new QmpOptions { CommandTimeout = TimeSpan.FromSeconds(60) });

        await qemu.SignalAsync("STOP");
        var pending = vm.ResumeAsync();
        var anEvent = vm.Client.WaitForEventAsync("RESUME");
        await qemu.SignalAsync("KILL");

        var e = await Assert.ThrowsAsync<QmpConnectionException>(() => pending.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("QEMU is gone", e.Message);
        await Assert.ThrowsAsync<QmpConnectionException>(() => anEvent.WaitAsync(TimeSpan.FromSeconds(5)));
        await Assert.ThrowsAsync<QmpConnectionException>(() => vm.QueryStatusAsync());
        await Assert.ThrowsAsync<QmpConnectionException>(() => vm.PauseAsync());
    }

    [Fact]
    public async Task Connect_ToMissingSocket_FailsClearly()
    {
        var e = await Assert.ThrowsAsync<QmpConnectionException>(() => QmpHypervisor.ConnectAsync(_dir.File("nobody.sock")));
        Assert.Contains("nobody.sock", e.Message);
    }

    [Fact]
    public async Task Connect_ToSilentSocket_TimesOutWithoutGreeting()
    {
        await using var fake = new FakeQmpServer(_dir.File("silent.sock"), []);
        var e = await Assert.ThrowsAsync<QmpConnectionException>(() =>
            QmpHypervisor.ConnectAsync(fake.Path, new QmpOptions { ConnectTimeout = TimeSpan.FromMilliseconds(300) }).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("No QMP greeting", e.Message);
    }

    [Theory]
    [InlineData("this is not json\r\n", "not JSON")]
    [InlineData("{\"hello\": 1}\r\n", "not a QMP greeting")]
    [InlineData("[1, 2]\r\n", "not a QMP greeting")]
    [InlineData("", "before the greeting")]
    public async Task Connect_ToSocketThatIsNotQmp_FailsClearly(string greeting, string expected)
    {
        string path = _dir.File("fake.sock");
        // An empty greeting stands for a peer that hangs up at once.
        await using (var fake = new FakeQmpServer(path, Encoding.UTF8.GetBytes(greeting), hangUp: greeting.Length == 0))
        {
            var e = await Assert.ThrowsAsync<QmpConnectionException>(() =>
                QmpHypervisor.ConnectAsync(path, new QmpOptions { ConnectTimeout = TimeSpan.FromSeconds(5) }).WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains(expected, e.Message);
        }
    }

    [Fact]
    public async Task OversizedMessage_ClosesTheConnection()
    {
        byte[] huge = Encoding.UTF8.GetBytes("{\"QMP\": \"" + new string('x', 8192));
        await using var fake = new FakeQmpServer(_dir.File("huge.sock"), huge);
        var e = await Assert.ThrowsAsync<QmpConnectionException>(() =>
            QmpHypervisor.ConnectAsync(fake.Path, new QmpOptions { MaxMessageLength = 4096 }).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public async Task StopAndCont_ConfirmedByTheirEvents_AskNoStatus()
    {
        await using var qemu = new ScriptedQmpServer(_dir.File("events.sock"), name => name switch
        {
            "stop" => ([ScriptedQmpServer.Event("STOP")], null),
            "cont" => ([ScriptedQmpServer.Event("RESUME")], null),
            _ => ([], ScriptedQmpServer.Status(false, "paused")),
        });
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.Path);

        await vm.PauseAsync();
        await vm.ResumeAsync();

        // The event precedes the answer on the socket: no query-status round trip inside the pause.
        Assert.Equal(["qmp_capabilities", "stop", "cont"], qemu.Commands);
    }

    [Fact]
    public async Task Stop_AnsweredWithoutStopping_IsRefused()
    {
        // No STOP event and QEMU still says it runs: the pause must not be taken for done (no switch may follow).
        await using var qemu = new ScriptedQmpServer(_dir.File("liar.sock"), name => ([], name == "query-status" ? ScriptedQmpServer.Status(true, "running") : null));
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.Path);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => vm.PauseAsync());

        Assert.Contains("still reports 'running'", e.Message);
        Assert.Equal(["qmp_capabilities", "stop", "query-status"], qemu.Commands);
    }

    [Fact]
    public async Task Cont_WithoutResumeEvent_AsksTheStatus_AndRefusesAVmThatDoesNotRun()
    {
        // A RESUME of an earlier 'cont' must not confirm a later one that did not start the VM.
        int conts = 0;
        await using var qemu = new ScriptedQmpServer(_dir.File("stuck.sock"), name => name switch
        {
            "cont" => (Interlocked.Increment(ref conts) == 1 ? [ScriptedQmpServer.Event("RESUME")] : [], null),
            "stop" => ([ScriptedQmpServer.Event("STOP")], null),
            _ => ([], ScriptedQmpServer.Status(false, "paused")),
        });
        await using var vm = await QmpHypervisor.ConnectAsync(qemu.Path);
        await vm.ResumeAsync();
        await vm.PauseAsync();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => vm.ResumeAsync());

        Assert.Contains("reports 'paused'", e.Message);
        Assert.Equal(["qmp_capabilities", "cont", "stop", "cont", "query-status"], qemu.Commands);
    }
}
