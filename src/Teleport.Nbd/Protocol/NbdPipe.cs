using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Teleport.Nbd.Protocol;

/// <summary>Exact-length reads from a pipe, used by the handshakes and payload transfers.</summary>
internal static class NbdPipe
{
    /// <summary>Reads exactly <paramref name="count"/> bytes into a new array; null when the stream ended first.</summary>
    public static async ValueTask<byte[]?> ReadExactAsync(PipeReader reader, int count, CancellationToken cancellationToken)
    {
        if (count == 0)
        {
            return [];
        }

        byte[] bytes = new byte[count];
        return await ReadExactAsync(reader, bytes.AsMemory(), cancellationToken).ConfigureAwait(false) ? bytes : null;
    }

    /// <summary>Fills <paramref name="destination"/> from the pipe; false when the stream ended first.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<bool> ReadExactAsync(PipeReader reader, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            int take = (int)Math.Min(buffer.Length, destination.Length);
            buffer.Slice(0, take).CopyTo(destination.Span);
            destination = destination[take..];
            reader.AdvanceTo(buffer.GetPosition(take));
            if (!destination.IsEmpty && result.IsCompleted)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes; false when the stream ended first.</summary>
    public static async ValueTask<bool> SkipAsync(PipeReader reader, long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            long take = Math.Min(result.Buffer.Length, count);
            reader.AdvanceTo(result.Buffer.GetPosition(take));
            count -= take;
            if (count > 0 && result.IsCompleted)
            {
                return false;
            }
        }

        return true;
    }
}
