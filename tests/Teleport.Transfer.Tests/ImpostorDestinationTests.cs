using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>Mutual authentication: a destination that does not know the secret cannot pass itself off as the real one.</summary>
public class ImpostorDestinationTests
{
    [Fact]
    public async Task The_source_refuses_a_destination_that_cannot_prove_the_secret()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 2));
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var impostor = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var reader = new FrameReader(stream);
            var hello = await reader.ReadAsync(default);
            Assert.Equal(MessageType.Hello, hello.Type);
            async Task Send(MessageType type, byte[] payload)
            {
                byte[] header = new byte[8];
                new FrameHeader(payload.Length, type, 0).Write(header);
                await stream.WriteAsync(header);
                await stream.WriteAsync(payload);
            }

            byte[] challenge = new byte[ChallengeMessage.Size];
            new ChallengeMessage(ProtocolConstants.MaxVersion, RandomNumberGenerator.GetBytes(32)).Write(challenge);
            await Send(MessageType.Challenge, challenge);
            var proof = await reader.ReadAsync(default);
            Assert.Equal(MessageType.SourceProof, proof.Type);
            await Send(MessageType.DestinationProof, RandomNumberGenerator.GetBytes(32)); // cannot compute the real one
            // The source must not send anything else but an Error.
            var next = await reader.ReadAsync(default);
            return next.Type;
        });

        await using var source = new SourceSession(m.Source((System.Net.IPEndPoint)listener.LocalEndpoint), m.Tracker);
        var error = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync());
        Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
        Assert.False(error.Remote);
        Assert.Equal(MessageType.Error, await impostor);
        listener.Stop();
    }
}
