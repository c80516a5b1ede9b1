using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>
/// An export the registry expects (a fenced cut-over's destination before its fence is armed): one NBD_OPT_GO for it is
/// held on its connection and answered the moment the export is added, so the client asks once; the hold is bounded
/// (refused as unknown at ExpectedExportWait), ends at once when the export will not come, and a name nobody expects is
/// refused at once as before.
/// </summary>
public sealed class ExpectedExportTests
{
    private const long MiB = 1024 * 1024;

    // A single NBD_OPT_GO: the client itself does not ask again.
    private static readonly NbdClientOptions Once = new() { ExportWait = TimeSpan.Zero };

    [Fact]
    public async Task A_GO_for_an_expected_export_is_held_and_answered_when_it_is_added()
    {
        await using var harness = ServerHarness.Start(new NbdServerOptions { ExpectedExportWait = TimeSpan.FromSeconds(30) });
        harness.Registry.Expect("fenced");
        var connecting = NbdClient.ConnectAsync(harness.EndPoint, "fenced", Once);
        for (int i = 0; i < 500 && harness.Server.ConnectionCount == 0; i++)
            await Task.Delay(10);
        // Without the hold the single GO would have been refused by now.
        Assert.NotSame(connecting, await Task.WhenAny(connecting, Task.Delay(300)));

        harness.AddExport("fenced", MiB);
        await using var client = await connecting;
        Assert.Equal(MiB, client.Export.Size);
        await client.WriteAsync(0, new byte[] { 5 });
        await client.FlushAsync();
        Assert.Equal(5, harness.ReadBacking("fenced")[0]);
        Assert.Equal(1, harness.Server.ConnectionCount);
    }

    [Fact]
    public async Task The_hold_is_bounded_and_ends_at_once_when_the_export_will_not_come()
    {
        await using var harness = ServerHarness.Start(new NbdServerOptions { ExpectedExportWait = TimeSpan.FromMilliseconds(200) });
        harness.Registry.Expect("slow");
        var bounded = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "slow", Once));
        Assert.Equal((NbdOption.Go, NbdOptionReplyType.ErrorUnknown), (bounded.Option, bounded.Reply));

        await using var patient = ServerHarness.Start(new NbdServerOptions { ExpectedExportWait = TimeSpan.FromMinutes(10) });
        patient.Registry.Expect("aborted");
        var connecting = NbdClient.ConnectAsync(patient.EndPoint, "aborted", Once);
        Assert.NotSame(connecting, await Task.WhenAny(connecting, Task.Delay(300)));
        patient.Registry.Unexpect("aborted");
        var ended = await Assert.ThrowsAsync<NbdOptionException>(() => connecting.WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, ended.Reply);

        // Nobody expects this one: refused at once, as before.
        var unknown = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(patient.EndPoint, "other", Once).WaitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, unknown.Reply);
    }
}
