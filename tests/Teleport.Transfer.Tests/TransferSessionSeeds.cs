using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>
/// Both directions of a real migration recorded through a proxy (index batches, requests, compressed data, acks,
/// the handshake), as whole streams and cut into frames: the seeds of the protocol fuzz tests.
/// </summary>
public sealed class TransferSessionSeeds : IAsyncLifetime
{
    public const string Recipe = "rrrrzzzzaaaattttrrrrzzzzaaaarrrrttttrzrzrzrz";

    /// <summary>The geometry of the recorded volume (the parsers check against it).</summary>
    public VolumeGeometry Geometry { get; } = new(Recipe.Length * VolumeBuilder.BlockSize + 1000, VolumeBuilder.BlockSize);

    /// <summary>Source-to-destination and destination-to-source streams of the recorded connection.</summary>
    public IReadOnlyList<byte[]> Streams { get; private set; } = [];

    /// <summary>Every frame of the recording: its type, flags and payload.</summary>
    internal IReadOnlyList<(MessageType Type, byte Flags, byte[] Payload)> Frames { get; private set; } = [];

    public async Task InitializeAsync()
    {
        using var m = new Migration(VolumeBuilder.Build(Recipe, seed: 7, tail: 1000));
        RecordingProxy? proxy = null;
        await m.RunAsync(m.Destination(), ep => m.Source(ep), connectTo: ep => (proxy = RecordingProxy.Start(ep)).EndPoint);
        await proxy!.DisposeAsync();
        var session = Assert.Single(proxy.Sessions);
        Streams = [session.FromClient, session.FromServer];
        Frames = [.. await FramesOf(session.FromClient), .. await FramesOf(session.FromServer)];
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task<List<(MessageType, byte, byte[])>> FramesOf(byte[] stream)
    {
        var frames = new List<(MessageType, byte, byte[])>();
        var reader = new FrameReader(new MemoryStream(stream));
        reader.Authenticated();
        long read = 0;
        while (read < stream.Length)
        {
            var frame = await reader.ReadAsync(default);
            frames.Add((frame.Type, frame.Flags, frame.Payload.ToArray()));
            read = reader.BytesRead;
        }

        return frames;
    }
}
