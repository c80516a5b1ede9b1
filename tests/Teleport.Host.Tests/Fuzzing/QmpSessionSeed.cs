using System.Net.Sockets;
using System.Text;

namespace Teleport.Host.Tests.Fuzzing;

/// <summary>
/// What a real QEMU says on its QMP socket to a client that negotiates, queries, resumes and pauses: greeting,
/// replies with ids 1.. (as <see cref="Teleport.Host.Hypervisor.QmpClient"/> numbers them) and events.
/// </summary>
public sealed class QmpSessionSeed : IAsyncLifetime
{
    private readonly TempDir _dir = new();

    public byte[] FromQemu { get; private set; } = [];

    public async Task InitializeAsync()
    {
        await using var qemu = await QemuProcess.StartAsync(_dir.File("qmp.sock"), "-machine", "none", "-nodefaults", "-nographic", "-display", "none", "-S");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(qemu.QmpSocket));
        var heard = new MemoryStream();
        await ReadLinesAsync(socket, heard, 1);
        string[] commands = ["qmp_capabilities", "query-status", "cont", "stop", "query-version", "no-such-command"];
        for (int i = 0; i < commands.Length; i++)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes($"{{\"execute\":\"{commands[i]}\",\"id\":{i + 1}}}\n"));
            // cont and stop also raise an event (RESUME, STOP) after their reply.
            await ReadLinesAsync(socket, heard, commands[i] is "cont" or "stop" ? 2 : 1);
        }

        FromQemu = heard.ToArray();
    }

    public Task DisposeAsync()
    {
        _dir.Dispose();
        return Task.CompletedTask;
    }

    private static async Task ReadLinesAsync(Socket socket, MemoryStream heard, int lines)
    {
        byte[] one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (lines > 0)
        {
            Assert.True(await socket.ReceiveAsync(one, SocketFlags.None, timeout.Token) == 1, "QEMU closed its QMP socket");
            heard.WriteByte(one[0]);
            if (one[0] == '\n')
                lines--;
        }
    }
}
