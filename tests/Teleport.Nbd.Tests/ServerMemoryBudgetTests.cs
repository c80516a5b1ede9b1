using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>
/// The server-wide memory budget on a real server over TCP: a request waits for room (never an error), connections
/// killed at any point give back what they held, and many connections together never hold more than the budget.
/// </summary>
public sealed class ServerMemoryBudgetTests
{
    private const int MiB = 1024 * 1024;

    // One largest request fills the budget: every WRITE payload and READ slice competes for it.
    private static readonly NbdServerOptions Tight = new() { MaxPayloadLength = MiB, MemoryBudget = MiB };

    [Fact]
    public void A_budget_smaller_than_the_largest_request_is_refused_at_start()
    {
        var options = new NbdServerOptions { MaxPayloadLength = 32 * MiB, MemoryBudget = 16 * MiB };
        var error = Assert.Throws<ArgumentException>(() => new NbdServer(new Teleport.Nbd.Exports.NbdExportRegistry(), options));
        Assert.Contains("MemoryBudget", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_write_waits_for_room_then_lands()
    {
        await using var harness = ServerHarness.Start(Tight);
        harness.AddExport("disk", 4 * MiB);
        await using var raw = await AttachAsync(harness);
        var memory = harness.Server.Memory;
        await memory.AcquireAsync(MiB, CancellationToken.None);

        byte[] data = Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 7)).ToArray();
        await raw.SendRequestAsync(NbdCommand.Write, cookie: 1, offset: MiB, (uint)data.Length, payload: data);
        await Poll.Until(() => memory.Waiting == 1, "the WRITE to wait for the budget");

        memory.Release(MiB);
        Assert.Equal((NbdError.None, 1UL), await raw.ReadSimpleReplyAsync());
        Assert.Equal(data, harness.ReadBacking("disk").AsSpan(MiB, data.Length).ToArray());
        await Poll.Until(() => memory.InUse == 0, "the payload's bytes to come back");
    }

    [Fact]
    public async Task A_connection_killed_while_waiting_for_room_takes_nothing_with_it()
    {
        await using var harness = ServerHarness.Start(Tight);
        harness.AddExport("disk", 4 * MiB);
        var memory = harness.Server.Memory;
        await memory.AcquireAsync(MiB, CancellationToken.None);
        await using (var raw = await AttachAsync(harness))
        {
            await raw.SendRequestAsync(NbdCommand.Write, cookie: 1, offset: 0, (uint)MiB);
            await Poll.Until(() => memory.Waiting == 1, "the WRITE to wait for the budget");
            raw.Abort();
        }

        memory.Release(MiB);
        await Poll.Until(() => harness.Server.ConnectionCount == 0, "the killed connection to end");
        Assert.Equal(0, memory.InUse);
        await AssertServesAsync(harness);
    }

    [Fact]
    public async Task Connections_killed_mid_payload_and_mid_reply_give_their_bytes_back()
    {
        await using var harness = ServerHarness.Start(Tight with { MemoryBudget = 4 * MiB });
        harness.AddExport("disk", 8 * MiB);
        var memory = harness.Server.Memory;

        var writer = await AttachAsync(harness);
        await writer.SendRequestAsync(NbdCommand.Write, cookie: 1, offset: 0, (uint)MiB);
        await writer.SendAsync(new byte[MiB / 4]);
        await Poll.Until(() => memory.InUse == MiB, "half a payload to hold its buffer");

        // Never reads: its 16 MiB of replies cannot all fit the socket buffers, so a slice stays held.
        var reader = await AttachAsync(harness);
        for (ulong i = 0; i < 16; i++)
            await reader.SendRequestAsync(NbdCommand.Read, cookie: i, offset: i % 8 * MiB, (uint)MiB);
        await Poll.Until(() => memory.InUse > MiB, "an unread reply to hold a slice");
        Assert.True(memory.InUse <= memory.Capacity);

        writer.Abort();
        reader.Abort();
        await writer.DisposeAsync();
        await reader.DisposeAsync();
        await Poll.Until(() => harness.Server.ConnectionCount == 0, "the killed connections to end");
        Assert.Equal(0, memory.InUse);
        // Half a payload is never written.
        Assert.Equal(-1, harness.ReadBacking("disk").AsSpan(0, MiB).IndexOfAnyExcept((byte)0));
    }

    [Fact]
    public async Task A_write_whose_payload_stalls_is_cut_off_and_gives_its_bytes_back()
    {
        await using var harness = ServerHarness.Start(Tight with { PayloadTimeout = TimeSpan.FromSeconds(1) });
        harness.AddExport("disk", 4 * MiB);
        var memory = harness.Server.Memory;
        await using var stalled = await AttachAsync(harness);
        await stalled.SendRequestAsync(NbdCommand.Write, cookie: 1, offset: 0, (uint)MiB);
        await stalled.SendAsync(new byte[MiB / 4]);
        await Poll.Until(() => memory.InUse == MiB, "a quarter of a payload to hold its buffer");

        // Never sends the rest, never disconnects: the server must end it and free the budget for the others.
        await Poll.Until(() => harness.Server.ConnectionCount == 0, "the stalled connection to be cut off");
        Assert.Equal(0, memory.InUse);
        Assert.Equal(-1, harness.ReadBacking("disk").AsSpan(0, MiB).IndexOfAnyExcept((byte)0));
        await AssertServesAsync(harness);
    }

    [Fact]
    public async Task Many_connections_writing_and_reading_at_once_never_hold_more_than_the_budget()
    {
        await using var harness = ServerHarness.Start(Tight with { MemoryBudget = 2 * MiB });
        harness.AddExport("disk", 16 * MiB);
        byte[] expected = new byte[16 * MiB];
        new Random(3).NextBytes(expected);

        var clients = Enumerable.Range(0, 12).Select(async c =>
        {
            await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
            int[] mine = Enumerable.Range(0, 16).Where(block => block % 12 == c).ToArray();
            await Task.WhenAll(mine.Select(block => client.WriteAsync(block * MiB, expected.AsMemory(block * MiB, MiB)).AsTask()));
            byte[] back = new byte[MiB];
            foreach (int block in mine)
            {
                await client.ReadAsync(block * MiB, back);
                Assert.True(back.AsSpan().SequenceEqual(expected.AsSpan(block * MiB, MiB)), $"block {block} read back wrong");
            }
        }).ToArray();

        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromMinutes(2));
        var memory = harness.Server.Memory;
        Assert.InRange(memory.HighWater, MiB, 2 * MiB);
        Assert.Equal(expected, harness.ReadBacking("disk"));
        await Poll.Until(() => memory.InUse == 0, "every buffer to come back");
        Assert.InRange(memory.Kept, 0, memory.Capacity);
    }

    private static async Task<RawNbdConnection> AttachAsync(ServerHarness harness)
    {
        var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GoAsync("disk");
        return raw;
    }

    private static async Task AssertServesAsync(ServerHarness harness)
    {
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
        byte[] data = [1, 2, 3, 4];
        await client.WriteAsync(0, data);
        byte[] back = new byte[4];
        await client.ReadAsync(0, back);
        Assert.Equal(data, back);
    }
}
