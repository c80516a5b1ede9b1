using System.Runtime.CompilerServices;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;

namespace Teleport.Host.Switching;

/// <summary>
/// The export the VM sees: every request passes the gate (so a switch can drain them) and goes to the
/// current upstream connection. A request whose connection broke waits for the reconnect and is re-sent once
/// it is back (NBD requests are idempotent: the client has no reply yet, so nothing it depends on has been
/// issued after it); a server error from the upstream goes to the client with the same errno.
/// </summary>
internal sealed class ForwardingExport(string name, UpstreamLink link, UpstreamGate gate) : INbdExport
{
    public string Name { get; } = name;

    public string? Description => "Teleport path switcher";

    public long Size => link.Size;

    public bool IsReadOnly => link.IsReadOnly;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UpstreamConnection connection = link.Current;
            while (true)
            {
                try
                {
                    await connection.Client.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UpstreamConnection connection = link.Current;
            while (true)
            {
                try
                {
                    await connection.Client.WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask TrimAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        uint count = checked((uint)length);
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UpstreamConnection connection = link.Current;
            while (true)
            {
                try
                {
                    await connection.Client.TrimAsync(offset, count, fua, cancellationToken).ConfigureAwait(false);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteZeroesAsync(long offset, long length, bool noHole, bool fua, CancellationToken cancellationToken)
    {
        uint count = checked((uint)length);
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UpstreamConnection connection = link.Current;
            while (true)
            {
                try
                {
                    await connection.Client.WriteZeroesAsync(offset, count, fua, noHole, cancellationToken).ConfigureAwait(false);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await gate.EnterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            UpstreamConnection connection = link.Current;
            while (true)
            {
                try
                {
                    await connection.Client.FlushAsync(cancellationToken).ConfigureAwait(false);
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
