using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// Runs one validated request against the session's export and sends its reply.
/// Never throws: export failures become error replies.
/// </summary>
internal sealed class NbdCommandHandler(NbdSession session, NbdReplyWriter writer, NbdInFlightBudget budget, NbdMemoryBudget memory, ILogger logger,
    CancellationToken cancellationToken)
{
    private readonly NbdReadReply _reads = new(session, writer, memory, logger, cancellationToken);

    /// <summary>Runs the request, then gives its bytes back to the connection's in-flight budget and records its duration.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ExecuteAsync(NbdRequest request, byte[]? payload)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            await RunAsync(request, payload).ConfigureAwait(false);
        }
        finally
        {
            budget.Release(NbdInFlightBudget.CostOf(request));
            NbdServerMetrics.Record(request.Command, started);
        }
    }

    /// <param name="request">A request that passed <see cref="NbdRequestValidator"/>.</param>
    /// <param name="payload">WRITE data (rented from the memory budget, returned here as soon as it is written), or null.</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask RunAsync(NbdRequest request, byte[]? payload)
    {
        bool fua = (request.Flags & NbdCommandFlags.Fua) != 0;
        long offset = (long)request.Offset;
        Exception? failure = null;
        try
        {
            switch (request.Command)
            {
                case NbdCommand.Read:
                    await _reads.SendAsync(request).ConfigureAwait(false);
                    return;

                case NbdCommand.Write:
                    await session.Export.WriteAsync(offset, payload.AsMemory(0, (int)request.Length), fua, cancellationToken).ConfigureAwait(false);
                    break;

                case NbdCommand.Flush:
                    await session.Export.FlushAsync(cancellationToken).ConfigureAwait(false);
                    break;

                case NbdCommand.Trim:
                    await session.Export.TrimAsync(offset, request.Length, fua, cancellationToken).ConfigureAwait(false);
                    break;

                case NbdCommand.WriteZeroes:
                    bool noHole = (request.Flags & NbdCommandFlags.NoHole) != 0;
                    await session.Export.WriteZeroesAsync(offset, request.Length, noHole, fua, cancellationToken).ConfigureAwait(false);
                    break;

                default:
                    // The validator lets nothing else through; answer rather than hang the client.
                    await writer.WriteErrorAsync(request.Cookie, NbdError.InvalidArgument, "unsupported command", session.StructuredReplies).ConfigureAwait(false);
                    return;
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            if (payload is not null)
            {
                memory.Return(payload);
            }
        }

        if (failure is null)
        {
            await writer.WriteSuccessAsync(request.Cookie).ConfigureAwait(false);
        }
        else
        {
            await ReplyFailureAsync(request, failure).ConfigureAwait(false);
        }
    }

    private ValueTask ReplyFailureAsync(in NbdRequest request, Exception failure)
    {
        var error = NbdErrorMapper.Map(failure);
        NbdLog.CommandFailed(logger, failure, request.Command, request.Offset, request.Length, session.Export.Name, error);
        // The exception text stays in the server log: it may name local paths.
        return writer.WriteErrorAsync(request.Cookie, error, $"{request.Command} failed: {error}", session.StructuredReplies);
    }
}
