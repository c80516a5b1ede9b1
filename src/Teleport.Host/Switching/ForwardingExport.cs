using System.Runtime.CompilerServices;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;

namespace Teleport.Host.Switching;

/// <summary>
/// The export the VM sees: every request passes the gate (so a switch can drain them) and goes to the
/// current upstream connection. A request whose connection broke waits for the reconnect and is re-sent once
/// it is back (NBD requests are idempotent: the client has no reply yet, so nothing it depends on has been
/// issued after it); a server error from the upstream goes to the client with the same errno. Acknowledged writes and
/// completed flushes are counted (<see cref="FlushTracker"/>) so a switch knows whether the old upstream needs a flush.
/// </summary>
internal sealed class ForwardingExport(string name, UpstreamLink link, UpstreamGate gate, FlushTracker flushes) : INbdExport
{
    public string Name { get; } = name;

    public string? Description => "Teleport path switcher";

    public long Size => link.Size;

    public bool IsReadOnly => link.IsReadOnly;

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
        ForwardAsync((offset, buffer), static (client, s, ct) => client.ReadAsync(s.offset, s.buffer, ct), cancellationToken);

    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken) =>
        ForwardAsync((offset, data, fua), static (client, s, ct) => client.WriteAsync(s.offset, s.data, s.fua, ct), cancellationToken, written: !fua);

    public ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken) =>
        ForwardAsync((offset, count: checked((uint)length), fua),
            static (client, s, ct) => client.TrimAsync(s.offset, s.count, s.fua, ct), cancellationToken, written: !fua);

    public ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken) =>
        ForwardAsync((offset, count: checked((uint)length), noHole, fua),
            static (client, s, ct) => client.WriteZeroesAsync(s.offset, s.count, s.fua, s.noHole, ct), cancellationToken, written: !fua);

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        long mark = flushes.Starting();
        await ForwardAsync(0, static (client, _, ct) => client.FlushAsync(ct), cancellationToken).ConfigureAwait(false);
        flushes.Flushed(mark);
    }

    // One request through the gate to the current upstream, re-sent after a reconnect. The request's arguments
    // travel as a value-tuple state and the operation is a static lambda, so forwarding allocates no closure.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ForwardAsync<TState>(TState state, Func<NbdClient, TState, CancellationToken, ValueTask> request,
        CancellationToken cancellationToken, bool written = false)
    {
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = link.Current;
            while (true)
            {
                try
                {
                    await request(connection.Client, state, cancellationToken).ConfigureAwait(false);
                    if (written)
                        flushes.Written();
                    return;
                }
                catch (Exception e) when (UpstreamErrors.IsConnectionLoss(e))
                {
                    connection = await link.RecoverAsync(connection, e, cancellationToken).ConfigureAwait(false);
                }
                catch (NbdCommandException e)
                {
                    throw UpstreamErrors.Translate(e);
                }
            }
        }
        finally
        {
            gate.Exit();
        }
    }
}
