using System.Diagnostics;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Contracts;

namespace Teleport.Storage.Tests.Worker;

/// <summary>
/// The saga re-sends ("nudges") the command a state waits on when no answer came, since the command or its answer may
/// have been lost. On the real broker: a duplicate StartTransfer or FinalSync of the same attempt never starts a second
/// transfer; it is answered with the events the first one already produced, with the same figures.
/// </summary>
public sealed class NudgedCommandTests : IDisposable
{
    private static readonly MigrationOptions Options = new(BlockSize: 4096);
    private static readonly TimeSpan Timeout = MigrationRig.Timeout;

    private readonly string _root = Directory.CreateTempSubdirectory("teleport-storage-nudge-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task Duplicates_after_convergence_and_after_completion_get_the_same_events_again_from_the_one_transfer()
    {
        await using var w = await Workers.Start(_root);
        var id = Guid.NewGuid();
        const int Attempt = 3;

        await w.Saga.Send(w.Destination.Id, new PrepareDestination(id, "lamp", w.Source.Id, w.Destination.Id, Options, Attempt));
        var prepared = await w.Saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, Timeout);
        var start = new StartTransfer(id, "lamp", w.Source.Id, w.Destination.Id, prepared.DataEndpoint, prepared.Secret, prepared.CertificateSha256,
            Options, Attempt);
        // Writes during the copy, so there are several rounds (and blocks sent twice) to report.
        using var stopWriter = new CancellationTokenSource();
        var writer = BusMigrationTests.WriteUntilStopped(w.Source, stopWriter.Token);
        await w.Saga.Send(w.Source.Id, start);
        var converged = await w.Saga.Log.WaitFor<DirtyBelowThreshold>(e => e.MigrationId == id, Timeout);
        await w.Saga.Log.WaitFor<BlocksRequested>(e => e.MigrationId == id, Timeout);
        await Task.Delay(300);
        await stopWriter.CancelAsync();
        Assert.True(await writer > 0);
        await Task.Delay(TimeSpan.FromSeconds(1)); // the idle rounds carrying the last writes
        var streamed = Assert.Single(w.Events<IndexStreamed>(id));
        var requested = Assert.Single(w.Events<BlocksRequested>(id));
        var roundsBefore = w.Events<CopyRoundCompleted>(id);
        Assert.NotEmpty(roundsBefore);

        // The saga lost DirtyBelowThreshold (say) and re-sends StartTransfer: the source answers with its progress.
        await w.Saga.Send(w.Source.Id, start);
        await w.Until(() => w.Events<DirtyBelowThreshold>(id).Count == 2, "no DirtyBelowThreshold answered the duplicate StartTransfer");
        Assert.Equal(converged, w.Events<DirtyBelowThreshold>(id)[1]);
        await w.Until(() => w.Events<IndexStreamed>(id).Count == 2 && w.Events<BlocksRequested>(id).Count == 2,
            "the duplicate StartTransfer was not answered with IndexStreamed and BlocksRequested");
        Assert.Equal(streamed, w.Events<IndexStreamed>(id)[1]);
        var again = w.Events<BlocksRequested>(id)[1];
        Assert.Equal((requested.BlocksFromIndex, requested.BlocksRequestedFromSource, Attempt),
            (again.BlocksFromIndex, again.BlocksRequestedFromSource, again.Attempt));
        // The latest round again (the same event), not a new one.
        var latest = roundsBefore.MaxBy(r => r.Round)!;
        await w.Until(() => w.Events<CopyRoundCompleted>(id).Count(r => r == latest) == 2, "the latest CopyRoundCompleted was not repeated");

        await w.Saga.Send(w.Source.Id, new FinalSync(id, "lamp", w.Source.Id, Attempt));
        var completed = await w.Saga.Log.WaitFor<MigrationCompleted>(e => e.MigrationId == id, Timeout);
        Assert.True(completed.Verified);
        // The source is done once its volume is no longer in use by the migration; a FinalSync before that only repeats the signal.
        await w.Until(() => w.Source.Migrations.UsingVolume("lamp") is null, "the source never finished");

        // The saga lost MigrationCompleted and re-sends FinalSync: the source answers with the figures of the same transfer.
        await w.Saga.Send(w.Source.Id, new FinalSync(id, "lamp", w.Source.Id, Attempt));
        await w.Until(() => w.Events<MigrationCompleted>(id).Count == 2, "no MigrationCompleted answered the duplicate FinalSync");
        var repeated = w.Events<MigrationCompleted>(id)[1];
        Assert.Equal(Figures(completed), Figures(repeated));
        Assert.True(completed.BlocksFromIndex > 0 && completed.Rounds > 1, $"{completed}");
        await w.Saga.Send(w.Source.Id, new FinalSync(id, "lamp", w.Source.Id, Attempt));
        await w.Until(() => w.Events<MigrationCompleted>(id).Count == 3, "no MigrationCompleted answered the second duplicate FinalSync");
        Assert.Equal(repeated, w.Events<MigrationCompleted>(id)[2]);

        // A late StartTransfer after the end starts nothing either: the last round (the final one) and the threshold again.
        await w.Saga.Send(w.Source.Id, start);
        await w.Until(() => w.Events<DirtyBelowThreshold>(id).Count == 3, "the late StartTransfer was not answered");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(streamed, w.Events<IndexStreamed>(id)[2]);
        Assert.Equal(3, w.Events<IndexStreamed>(id).Count);
        Assert.Equal(3, w.Events<MigrationCompleted>(id).Count);
        Assert.Empty(w.Events<TransferFailed>(id));

        // Exactly one transfer ran.
        Assert.Equal(1, w.SourceLogs.Entries.Count(IsTransferStart));
        Assert.Equal(1, w.SourceLogs.Entries.Count(e => e.Message.StartsWith("Volume lamp sent for migration", StringComparison.Ordinal)));
        Assert.Equal(1, w.Source.Migrations.Count);
        Assert.True(BusMigrationTests.FilesEqual(Path.Combine(w.Source.Options.VolumeDirectory, "lamp.img"),
            Path.Combine(w.Destination.Options.VolumeDirectory, "lamp.img")));
    }

    [Fact]
    public async Task Duplicates_after_a_failed_transfer_get_the_same_failure_until_the_abort()
    {
        await using var w = await Workers.Start(_root);
        var id = Guid.NewGuid();

        await w.Saga.Send(w.Destination.Id, new PrepareDestination(id, "lamp", w.Source.Id, w.Destination.Id, Options, 2));
        var prepared = await w.Saga.Log.WaitFor<DestinationPrepared>(e => e.MigrationId == id, Timeout);
        // A pin that is not the destination's: the transfer fails at the TLS handshake.
        var start = new StartTransfer(id, "lamp", w.Source.Id, w.Destination.Id, prepared.DataEndpoint, prepared.Secret,
            Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)), Options, 2);
        await w.Saga.Send(w.Source.Id, start);
        var failed = await w.Saga.Log.WaitFor<TransferFailed>(e => e.MigrationId == id, Timeout);
        Assert.Contains("certificate pin mismatch", failed.Reason);

        // The saga lost the failure: a duplicate StartTransfer or FinalSync of that attempt gets the same one, not a new transfer.
        await w.Saga.Send(w.Source.Id, start);
        await w.Until(() => w.Events<TransferFailed>(id).Count == 2, "the duplicate StartTransfer was not answered");
        Assert.Equal(failed, w.Events<TransferFailed>(id)[1]);
        await w.Saga.Send(w.Source.Id, new FinalSync(id, "lamp", w.Source.Id, 2));
        await w.Until(() => w.Events<TransferFailed>(id).Count == 3, "the FinalSync was not answered");
        Assert.Equal(failed, w.Events<TransferFailed>(id)[2]);
        Assert.Equal(1, w.SourceLogs.Entries.Count(IsTransferStart));

        // After the rollback's abort the failure is forgotten: the migration is unknown to the source again.
        await w.Saga.Send(w.Source.Id, new AbortTransfer(id, "lamp", w.Source.Id, "rollback", 2));
        await w.Saga.Log.WaitFor<TransferAborted>(e => e.MigrationId == id && e.StorageId == w.Source.Id, Timeout);
        await w.Saga.Send(w.Source.Id, new FinalSync(id, "lamp", w.Source.Id, 2));
        await w.Until(() => w.Events<TransferFailed>(id).Count == 4, "the FinalSync after the abort was not answered");
        Assert.Contains("unknown migration", w.Events<TransferFailed>(id)[3].Reason);
        Assert.Empty(w.Events<IndexStreamed>(id));
        Assert.Empty(w.Events<MigrationCompleted>(id));
    }

    // The source's log line when it starts a session (its failure line starts alike but has no attempt).
    private static bool IsTransferStart((string Category, string Message, IReadOnlyDictionary<string, object?> Scope) entry) =>
        System.Text.RegularExpressions.Regex.IsMatch(entry.Message, @"^Sending volume lamp for migration \S+ \(attempt \d+\) to ");

    private static (string, string, bool, long, long, long, long, int, int) Figures(MigrationCompleted c) =>
        (c.DestinationStorageId, c.VolumeId, c.Verified, c.VolumeBytes, c.BytesOnWire, c.BlocksFromIndex, c.BlocksSent, c.Rounds, c.Attempt);

    /// <summary>
    /// Source (16 MiB volume "lamp", its log captured) and empty destination whose index holds a base image sharing the
    /// volume's first quarter, and the saga stand-in.
    /// </summary>
    private sealed class Workers : IAsyncDisposable
    {
        private Workers(SagaStandIn saga, WorkerHost source, WorkerHost destination, CapturedLogs sourceLogs)
        {
            Saga = saga;
            Source = source;
            Destination = destination;
            SourceLogs = sourceLogs;
        }

        public SagaStandIn Saga { get; }

        public WorkerHost Source { get; }

        public WorkerHost Destination { get; }

        public CapturedLogs SourceLogs { get; }

        public static async Task<Workers> Start(string root)
        {
            string src = Directory.CreateDirectory(Path.Combine(root, "src")).FullName;
            string dst = Directory.CreateDirectory(Path.Combine(root, "dst")).FullName;
            string index = Directory.CreateDirectory(Path.Combine(root, "index")).FullName;
            string basePath = Path.Combine(root, "base.img");
            BusMigrationTests.WriteVolumes(Path.Combine(src, "lamp.img"), basePath);
            using (var blocks = BlockIndex.Open(index, 4096))
            {
                blocks.Update([basePath]);
                blocks.Save();
            }

            string run = Guid.NewGuid().ToString("N")[..8];
            var logs = new CapturedLogs();
            var saga = await SagaStandIn.Start();
            var source = await WorkerHost.Start($"src-{run}", src, logs: logs);
            var destination = await WorkerHost.Start($"dst-{run}", dst, index);
            return new Workers(saga, source, destination, logs);
        }

        public IReadOnlyList<T> Events<T>(Guid id)
            where T : class => Saga.Log.All<T>(e => (Guid)typeof(T).GetProperty("MigrationId")!.GetValue(e)! == id);

        public async Task Until(Func<bool> condition, string failure)
        {
            var waited = Stopwatch.StartNew();
            while (!condition())
            {
                if (waited.Elapsed > Timeout)
                    throw new TimeoutException($"{failure} within {Timeout.TotalSeconds} s; received: {string.Join(", ", Saga.Log.All<object>())}");
                await Task.Delay(20);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Destination.DisposeAsync();
            await Source.DisposeAsync();
            await Saga.DisposeAsync();
        }
    }
}
