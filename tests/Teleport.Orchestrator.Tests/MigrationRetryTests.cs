using Microsoft.EntityFrameworkCore;
using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>A retry starts from a clean attempt: nothing a failed attempt recorded carries into the next one.</summary>
public sealed class MigrationRetryTests
{
    // What the row keeps across attempts: the request and where the saga stands. Anything else is per attempt and
    // belongs in MigrationAttempt, which a retry replaces whole.
    private static readonly string[] KeptAcrossAttempts =
    [
        nameof(MigrationState.CorrelationId), nameof(MigrationState.CurrentState), nameof(MigrationState.Version),
        nameof(MigrationState.Phase), nameof(MigrationState.Attempt), nameof(MigrationState.VmId), nameof(MigrationState.VolumeId),
        nameof(MigrationState.SourceStorageId), nameof(MigrationState.DestinationStorageId), nameof(MigrationState.HostId),
        nameof(MigrationState.OptionBlockSize), nameof(MigrationState.OptionBandwidthBytesPerSecond),
        nameof(MigrationState.OptionDirtyThresholdBlocks), nameof(MigrationState.OptionMaxCopyRounds),
        nameof(MigrationState.OptionCompressionLevel), nameof(MigrationState.OptionUseIndex), nameof(MigrationState.DeadlineUtc),
        nameof(MigrationState.NudgeAtUtc), nameof(MigrationState.PhaseEnteredAt), nameof(MigrationState.RequestedAt),
        nameof(MigrationState.DestinationHostId), nameof(MigrationState.OptionMemoryMultifd),
        nameof(MigrationState.OptionMemoryMultifdChannels), nameof(MigrationState.OptionMemoryDowntimeLimitMilliseconds),
        nameof(MigrationState.OptionMaxDowntimeMilliseconds), nameof(MigrationState.OptionStrictMaxDowntime), nameof(MigrationState.OptionVolumeBytes),
        nameof(MigrationState.OptionFencedCutover), nameof(MigrationState.OptionMemoryPostCopy),
        nameof(MigrationState.OptionMemoryPostCopyAfterRounds), nameof(MigrationState.OptionMemoryPostCopyAfterSeconds),
    ];

    [Fact]
    public void Every_column_outside_the_attempt_is_one_a_retry_keeps_on_purpose()
    {
        var columns = SampleValues.Columns(typeof(MigrationState)).Select(p => p.Name).Order().ToList();

        Assert.Equal(KeptAcrossAttempts.Order(), columns);
    }

    [Fact]
    public async Task A_retry_starts_from_a_clean_attempt_whatever_the_failed_one_recorded()
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo("Copying");
        await host.Publish(m.TransferFailed());
        await host.WaitForState(m.Id, "Failed");

        // Every field of the failed attempt set, as if it had gone through every step (a retry of an incomplete
        // rollback is refused, so that one flag stays clear).
        await using (var db = await host.Database.OpenAsync(CancellationToken.None))
        {
            var failed = await db.Migrations.SingleAsync(x => x.CorrelationId == m.Id);
            SampleValues.Fill(failed.Run);
            failed.Run.RollbackIncomplete = false;
            await db.SaveChangesAsync();
        }

        await host.Publish(new RetryMigration(m.Id));
        var row = await host.WaitFor(m.Id, r => r.CurrentState == "Preparing" && r.Attempt == 2, "attempt 2 preparing");

        // The retry has sent PrepareDestination, and nothing else of the attempt is set.
        Assert.NotNull(row.Run.PrepareSentAt);
        var fresh = new MigrationAttempt { PrepareSentAt = row.Run.PrepareSentAt };
        var carried = SampleValues.Columns(typeof(MigrationAttempt))
            .Where(p => !Equals(p.GetValue(fresh), p.GetValue(row.Run)))
            .Select(p => $"{p.Name}={p.GetValue(row.Run)}")
            .ToList();
        Assert.True(carried.Count == 0, $"carried into attempt 2: {string.Join(", ", carried)}");
        Assert.Equal(2, (await host.Sent<PrepareDestination>(m.Id, MigrationScript.StorageQueue(Destination), index: 1)).Attempt);
        host.AssertNoFaults();
    }
}
