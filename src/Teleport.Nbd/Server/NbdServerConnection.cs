using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Server;

/// <summary>
/// One client connection: handshake, then the read loop of the transmission phase. The loop frames and
/// validates each request, reads WRITE payloads into pooled buffers and hands the request to a worker;
/// workers reply in completion order. The loop ends on NBD_CMD_DISC, end of stream, a protocol
/// violation or server shutdown, and always waits for running requests before closing.
/// </summary>
internal sealed class NbdServerConnection(NbdExportRegistry exports, NbdServerOptions options, ILogger logger, string remote, NbdAttachments attachments,
    NbdMemoryBudget memory)
{
    public async Task RunAsync(Stream stream, CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        try
        {
            var session = await HandshakeAsync(reader, stream, cancellationToken).ConfigureAwait(false);
            if (session is null)
            {
                return;
            }

            NbdLog.Attached(logger, remote, session.Export.Name, session.StructuredReplies);
            attachments.Attach(session.Export.Name);
            // A fenced export withdrawn (its migration rolled back) ends the connections to it.
            using var transmission = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken,
                (session.Export as FencedNbdExport)?.Withdrawn ?? CancellationToken.None);
            try
            {
                var writer = new NbdReplyWriter(stream, options.ReplyTimeout, logger, remote);
                var budget = new NbdInFlightBudget(options.MaxBytesInFlight);
                var handler = new NbdCommandHandler(session, writer, budget, memory, logger, transmission.Token);
                var workers = new NbdWorkerPool(handler, options.MaxInFlightRequests, logger);
                try
                {
                    await TransmitAsync(reader, session, writer, (workers, budget), transmission.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (transmission.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                {
                    NbdLog.ConnectionAborted(logger, remote, $"export '{session.Export.Name}' withdrawn");
                }
                finally
                {
                    await workers.StopAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                attachments.Detach(session.Export.Name);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Server shutdown.
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            NbdLog.Disconnected(logger, remote);
        }
        catch (Exception e)
        {
            NbdLog.ConnectionFailed(logger, e, remote);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<NbdSession?> HandshakeAsync(PipeReader reader, Stream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.HandshakeTimeout);
        try
        {
            return await new NbdServerHandshake(exports, options, logger, remote).RunAsync(reader, stream, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            NbdLog.HandshakeViolation(logger, remote, $"no export chosen within {options.HandshakeTimeout}");
            return null;
        }
    }

    private async Task TransmitAsync(PipeReader reader, NbdSession session, NbdReplyWriter writer, (NbdWorkerPool Pool, NbdInFlightBudget Budget) workers,
        CancellationToken cancellationToken)
    {
        while (!writer.Failed)
        {
            var result = await NextHeaderAsync(reader, workers.Budget, cancellationToken).ConfigureAwait(false);
            if (result is null)
            {
                NbdLog.ConnectionAborted(logger, remote, $"no request for {options.IdleTimeout}");
                return;
            }

            var buffer = result.Value.Buffer;
            if (buffer.Length < NbdMagic.RequestHeaderLength)
            {
                reader.AdvanceTo(buffer.End);
                NbdLog.Disconnected(logger, remote);
                return;
            }

            if (!NbdRequestCodec.TryParse(buffer, out var request))
            {
                NbdLog.BadRequestMagic(logger, remote);
                reader.AdvanceTo(buffer.Start);
                return;
            }

            reader.AdvanceTo(buffer.GetPosition(NbdMagic.RequestHeaderLength));

            var verdict = NbdRequestValidator.Validate(request, session.Export.Size, session.Flags, options.MaxPayloadLength);
            switch (verdict.Disposition)
            {
                case NbdRequestDisposition.Disconnect:
                    NbdLog.Disconnected(logger, remote);
                    return;

                case NbdRequestDisposition.RejectAndClose:
                    NbdLog.RequestClosesConnection(logger, request.Command, request.Length, remote, verdict.Reason);
                    await writer.WriteErrorAsync(request.Cookie, verdict.Error, verdict.Reason, session.StructuredReplies).ConfigureAwait(false);
                    return;

                case NbdRequestDisposition.Reject:
                    NbdLog.RequestRejected(logger, remote, request.Command, request.Cookie, verdict.Error, verdict.Reason);
                    if (request.Command == NbdCommand.Write && !await NbdPipe.SkipAsync(reader, request.Length, cancellationToken).ConfigureAwait(false))
                    {
                        NbdLog.TruncatedRequest(logger, remote, request.Command, request.Length);
                        return;
                    }

                    await writer.WriteErrorAsync(request.Cookie, verdict.Error, verdict.Reason, session.StructuredReplies).ConfigureAwait(false);
                    break;

                default:
                    await workers.Budget.TakeAsync(NbdInFlightBudget.CostOf(request), cancellationToken).ConfigureAwait(false);
                    byte[]? payload = null;
                    if (request.Command == NbdCommand.Write && (payload = await ReadPayloadAsync(reader, request, cancellationToken).ConfigureAwait(false)) is null)
                    {
                        return;
                    }

                    var worker = await workers.Pool.RentAsync().ConfigureAwait(false);
                    worker.Assign(request, payload);
                    break;
            }
        }
    }

    /// <summary>
    /// A WRITE's payload in a buffer of the server's memory budget (waiting for room first: back-pressure); null when
    /// the stream ended before it was whole. The buffer goes back to the budget on every path but success.
    /// </summary>
    private async ValueTask<byte[]?> ReadPayloadAsync(PipeReader reader, NbdRequest request, CancellationToken cancellationToken)
    {
        int length = (int)request.Length;
        byte[] payload = await memory.RentAsync(length, cancellationToken).ConfigureAwait(false);
        bool complete = false;
        using var stalled = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stalled.CancelAfter(options.PayloadTimeout);
        try
        {
            complete = await NbdPipe.ReadExactAsync(reader, payload.AsMemory(0, length), stalled.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            NbdLog.StalledPayload(logger, remote, request.Command, request.Length, options.PayloadTimeout);
            return null;
        }
        finally
        {
            if (!complete)
            {
                // Half a payload is never written: the export is untouched by this request.
                memory.Return(payload);
            }
        }

        if (!complete)
        {
            NbdLog.TruncatedRequest(logger, remote, request.Command, request.Length);
            return null;
        }

        return payload;
    }

    /// <summary>Waits for the next request header; null when the connection stayed idle (nothing running) past the idle timeout.</summary>
    private async ValueTask<ReadResult?> NextHeaderAsync(PipeReader reader, NbdInFlightBudget budget, CancellationToken cancellationToken)
    {
        if (options.IdleTimeout == Timeout.InfiniteTimeSpan)
        {
            return await reader.ReadAtLeastAsync(NbdMagic.RequestHeaderLength, cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            idle.CancelAfter(options.IdleTimeout);
            try
            {
                return await reader.ReadAtLeastAsync(NbdMagic.RequestHeaderLength, idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // A client waiting for a long request is not idle.
                if (!budget.Busy)
                {
                    return null;
                }
            }
        }
    }
}
