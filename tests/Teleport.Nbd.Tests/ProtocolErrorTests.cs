using System.Buffers.Binary;
using Teleport.Blocks;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>Hostile and broken clients on raw sockets: clear errors or a closed connection, never a crash or lost data.</summary>
public sealed class ProtocolErrorTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task BadOptionMagic_ClosesTheConnection_ServerKeepsServing()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();
        byte[] bogus = NbdOptionCodec.BuildRequest(NbdOption.List, []);
        bogus[0] ^= 0xff;
        await raw.SendAsync(bogus);

        Assert.True(await raw.IsClosedByServerAsync());
        await AssertServerStillServesAsync(harness, "disk");
    }

    [Fact]
    public async Task UnknownClientFlags_CloseTheConnection()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync((NbdHandshakeFlags)0x80);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task UnknownOptions_AreUnsupported_AndNegotiationGoesOn()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();

        await raw.SendOptionAsync((NbdOption)0x1234, [1, 2, 3]);
        Assert.Equal(NbdOptionReplyType.ErrorUnsupported, (await raw.ReadOptionReplyAsync((NbdOption)0x1234)).Type);
        await raw.SendOptionAsync(NbdOption.StartTls, []);
        Assert.Equal(NbdOptionReplyType.ErrorUnsupported, (await raw.ReadOptionReplyAsync(NbdOption.StartTls)).Type);
        await raw.SendOptionAsync(NbdOption.List, [0]);
        Assert.Equal(NbdOptionReplyType.ErrorInvalid, (await raw.ReadOptionReplyAsync(NbdOption.List)).Type);
        await raw.SendOptionAsync(NbdOption.Go, [0, 0, 0, 9, 1]);
        Assert.Equal(NbdOptionReplyType.ErrorInvalid, (await raw.ReadOptionReplyAsync(NbdOption.Go)).Type);

        // NBD_OPT_INFO describes the export and stays in negotiation.
        await raw.SendOptionAsync(NbdOption.Info, NbdOptionCodec.BuildInfoRequest("disk", [NbdInfoType.Name, NbdInfoType.Description, NbdInfoType.BlockSize]));
        var infos = new Dictionary<NbdInfoType, byte[]>();
        while (true)
        {
            (var type, byte[] data) = await raw.ReadOptionReplyAsync(NbdOption.Info);
            if (type == NbdOptionReplyType.Ack)
            {
                break;
            }

            Assert.Equal(NbdOptionReplyType.Info, type);
            infos[(NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data)] = data;
        }

        Assert.Equal((ulong)MiB, BinaryPrimitives.ReadUInt64BigEndian(infos[NbdInfoType.Export].AsSpan(2)));
        Assert.Equal("disk", RawNbdConnection.Text(infos[NbdInfoType.Name][2..]));
        Assert.Equal("test export disk", RawNbdConnection.Text(infos[NbdInfoType.Description][2..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32BigEndian(infos[NbdInfoType.BlockSize].AsSpan(2)));
        Assert.Equal(32u * MiB, BinaryPrimitives.ReadUInt32BigEndian(infos[NbdInfoType.BlockSize].AsSpan(10)));

        await raw.SendOptionAsync(NbdOption.Abort, []);
        Assert.Equal(NbdOptionReplyType.Ack, (await raw.ReadOptionReplyAsync(NbdOption.Abort)).Type);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task GoForUnknownExport_IsErrUnknown_ExportNameForUnknownCloses()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using (var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint))
        {
            await raw.GreetAsync();
            await raw.SendOptionAsync(NbdOption.Go, NbdOptionCodec.BuildInfoRequest("ghost", []));
            (var type, byte[] message) = await raw.ReadOptionReplyAsync(NbdOption.Go);
            Assert.Equal(NbdOptionReplyType.ErrorUnknown, type);
            Assert.Contains("ghost", RawNbdConnection.Text(message));

            // Still negotiating: the right name works on the same connection.
            await raw.SendOptionAsync(NbdOption.ExportName, "disk"u8.ToArray());
            byte[] reply = await raw.ReadExactAsync(10);
            Assert.Equal((ulong)MiB, BinaryPrimitives.ReadUInt64BigEndian(reply));
        }

        await using (var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint))
        {
            await raw.GreetAsync();
            await raw.SendOptionAsync(NbdOption.ExportName, "ghost"u8.ToArray());
            Assert.True(await raw.IsClosedByServerAsync());
        }
    }

    [Fact]
    public async Task OversizedOption_ClosesTheConnection()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();
        byte[] header = NbdOptionCodec.BuildRequest(NbdOption.Go, []);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), 0x7fff_ffff);
        await raw.SendAsync(header);
        Assert.True(await raw.IsClosedByServerAsync());
    }

    [Fact]
    public async Task BadRequests_GetErrors_AndTheConnectionStaysUsable()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB, fill: _ => 0x5a);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        (long size, var flags) = await raw.GoAsync("disk");
        Assert.Equal(MiB, size);
        Assert.True(flags.HasFlag(NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua | NbdTransmissionFlags.CanMultiConn));

        await raw.SendRequestAsync(NbdCommand.Read, 1, MiB - 4, 8);            // beyond the end
        await raw.SendRequestAsync(NbdCommand.Read, 2, ulong.MaxValue - 2, 8); // offset + length overflows
        await raw.SendRequestAsync(NbdCommand.Read, 3, 0, 32 * MiB + 1);      // oversized read
        await raw.SendRequestAsync((NbdCommand)77, 4, 0, 0);                  // unknown command
        await raw.SendRequestAsync(NbdCommand.BlockStatus, 5, 0, 4096);       // no meta context negotiated
        await raw.SendRequestAsync(NbdCommand.Read, 6, 0, 0);                 // zero length
        await raw.SendRequestAsync(NbdCommand.Read, 7, 0, 16, (NbdCommandFlags)0x40); // unknown flag
        await raw.SendRequestAsync(NbdCommand.Flush, 8, 1, 0);                // flush with an offset
        await raw.SendRequestAsync(NbdCommand.Write, 9, MiB - 2, 4, payload: [1, 2, 3, 4]); // beyond the end: payload skipped
        await raw.SendRequestAsync(NbdCommand.Trim, 10, MiB, 1);
        await raw.SendRequestAsync(NbdCommand.WriteZeroes, 11, MiB, 1);
        await raw.SendRequestAsync(NbdCommand.Read, 12, 10, 4, NbdCommandFlags.Fua); // FUA on a read is accepted

        var errors = new Dictionary<ulong, NbdError>();
        for (int i = 0; i < 11; i++)
        {
            (var error, ulong cookie) = await raw.ReadSimpleReplyAsync();
            errors[cookie] = error;
        }

        // The read (cookie 12) replies last: its data follows its header.
        (var readError, ulong readCookie) = await raw.ReadSimpleReplyAsync();
        Assert.Equal((NbdError.None, 12ul), (readError, readCookie));
        Assert.Equal(new byte[] { 0x5a, 0x5a, 0x5a, 0x5a }, await raw.ReadExactAsync(4));

        Assert.Equal(NbdError.InvalidArgument, errors[1]);
        Assert.Equal(NbdError.InvalidArgument, errors[2]);
        Assert.Equal(NbdError.InvalidArgument, errors[3]);
        Assert.Equal(NbdError.InvalidArgument, errors[4]);
        Assert.Equal(NbdError.InvalidArgument, errors[5]);
        Assert.Equal(NbdError.InvalidArgument, errors[6]);
        Assert.Equal(NbdError.InvalidArgument, errors[7]);
        Assert.Equal(NbdError.InvalidArgument, errors[8]);
        Assert.Equal(NbdError.NoSpace, errors[9]);
        Assert.Equal(NbdError.InvalidArgument, errors[10]);
        Assert.Equal(NbdError.NoSpace, errors[11]);
        Assert.All(harness.ReadBacking("disk"), b => Assert.Equal(0x5a, b));
    }

    [Fact]
    public async Task WriteToReadOnlyExport_IsEperm_AndPayloadIsSkipped()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("ro", MiB, readOnly: true, fill: _ => 1);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        (_, var flags) = await raw.GoAsync("ro");
        Assert.True(flags.HasFlag(NbdTransmissionFlags.ReadOnly));

        await raw.SendRequestAsync(NbdCommand.Write, 1, 0, 4096, payload: new byte[4096]);
        await raw.SendRequestAsync(NbdCommand.Read, 2, 0, 2);
        Assert.Equal((NbdError.NotPermitted, 1ul), await raw.ReadSimpleReplyAsync());
        Assert.Equal((NbdError.None, 2ul), await raw.ReadSimpleReplyAsync());
        Assert.Equal(new byte[] { 1, 1 }, await raw.ReadExactAsync(2));
        Assert.All(harness.ReadBacking("ro"), b => Assert.Equal(1, b));
    }

    [Fact]
    public async Task OversizedWrite_GetsAnError_ThenTheConnectionCloses()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", 64 * MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GoAsync("disk");

        await raw.SendRequestAsync(NbdCommand.Write, 7, 0, 32 * MiB + 1, payload: new byte[4096]);
        Assert.Equal((NbdError.InvalidArgument, 7ul), await raw.ReadSimpleReplyAsync());
        Assert.True(await raw.IsClosedByServerAsync());
        Assert.All(harness.ReadBacking("disk"), b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task BadRequestMagic_ClosesTheConnection()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GoAsync("disk");
        byte[] header = new byte[NbdMagic.RequestHeaderLength];
        NbdRequestCodec.Write(header, new NbdRequest(NbdCommandFlags.None, NbdCommand.Read, 1, 0, 512));
        header[1] ^= 0x10;
        await raw.SendAsync(header);
        Assert.True(await raw.IsClosedByServerAsync());
        await AssertServerStillServesAsync(harness, "disk");
    }

    [Fact]
    public async Task DisconnectInTheMiddleOfAWritePayload_TouchesNothing_OtherClientsCarryOn()
    {
        await using var harness = ServerHarness.Start();
        var bitmap = new DirtyBitmap(MiB / 4096, 4096);
        harness.AddExport("disk", MiB, tracker: bitmap, fill: _ => 0x10);
        await using var other = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
        await other.WriteAsync(MiB / 2, Enumerable.Repeat((byte)0x20, 8192).ToArray());
        var taken = new List<BlockRun>();
        bitmap.TakeDirty(0, bitmap.BlockCount, taken);

        await using (var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint))
        {
            await raw.GoAsync("disk");
            byte[] partial = new byte[NbdMagic.RequestHeaderLength + 1000];
            NbdRequestCodec.Write(partial, new NbdRequest(NbdCommandFlags.None, NbdCommand.Write, 1, 0, 65536));
            partial.AsSpan(NbdMagic.RequestHeaderLength).Fill(0xdd);
            await raw.SendAsync(partial);
            raw.Abort();
        }

        // The other client still reads and writes, and the cut write changed nothing.
        byte[] back = new byte[MiB];
        await other.ReadAsync(0, back);
        Assert.All(back[..(MiB / 2)], b => Assert.Equal(0x10, b));
        Assert.All(back[(MiB / 2)..(MiB / 2 + 8192)], b => Assert.Equal(0x20, b));
        await other.WriteAsync(0, new byte[] { 0x30 });
        await AssertServerStillServesAsync(harness, "disk");
        Assert.Equal(1, bitmap.DirtyCount);
        Assert.Equal(0x30, harness.ReadBacking("disk")[0]);
        Assert.All(harness.ReadBacking("disk")[1..65536], b => Assert.Equal(0x10, b));
    }

    [Fact]
    public async Task StructuredReplies_ErrorsAndHolesUseChunks()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB, fill: i => i < 4096 ? (byte)0xcc : (byte)0);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();
        await raw.SendOptionAsync(NbdOption.StructuredReply, []);
        Assert.Equal(NbdOptionReplyType.Ack, (await raw.ReadOptionReplyAsync(NbdOption.StructuredReply)).Type);
        await raw.SendOptionAsync(NbdOption.Go, NbdOptionCodec.BuildInfoRequest("disk", []));
        while ((await raw.ReadOptionReplyAsync(NbdOption.Go)).Type != NbdOptionReplyType.Ack)
        {
        }

        await raw.SendRequestAsync(NbdCommand.Read, 1, 0, 8, NbdCommandFlags.DontFragment);
        byte[] data = await raw.ReadExactAsync(20 + 8 + 8);
        Assert.Equal(NbdMagic.StructuredReply, BinaryPrimitives.ReadUInt32BigEndian(data));
        Assert.Equal((ushort)NbdReplyFlags.Done, BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(4)));
        Assert.Equal((ushort)NbdReplyType.OffsetData, BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(6)));
        Assert.Equal(16u, BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(16)));
        Assert.All(data[28..], b => Assert.Equal(0xcc, b));

        await raw.SendRequestAsync(NbdCommand.Read, 2, 8192, 4096);
        byte[] hole = await raw.ReadExactAsync(32);
        Assert.Equal((ushort)NbdReplyType.OffsetHole, BinaryPrimitives.ReadUInt16BigEndian(hole.AsSpan(6)));
        Assert.Equal(8192ul, BinaryPrimitives.ReadUInt64BigEndian(hole.AsSpan(20)));
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32BigEndian(hole.AsSpan(28)));

        await raw.SendRequestAsync(NbdCommand.Read, 3, MiB, 1);
        byte[] header = await raw.ReadExactAsync(20);
        Assert.Equal((ushort)NbdReplyType.Error, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)));
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)));
        byte[] payload = await raw.ReadExactAsync((int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16)));
        Assert.Equal((uint)NbdError.InvalidArgument, BinaryPrimitives.ReadUInt32BigEndian(payload));
        Assert.Equal(payload.Length - 6, BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(4)));
    }

    [Fact]
    public async Task IdleHandshake_TimesOut()
    {
        await using var harness = ServerHarness.Start(new Teleport.Nbd.Server.NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        harness.AddExport("disk", MiB);
        await using var raw = await RawNbdConnection.ConnectAsync(harness.EndPoint);
        await raw.GreetAsync();
        Assert.True(await raw.IsClosedByServerAsync());
    }

    private static async Task AssertServerStillServesAsync(ServerHarness harness, string export)
    {
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, export);
        await client.ReadAsync(0, new byte[4096]);
    }
}
