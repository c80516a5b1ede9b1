using Teleport.Contracts;
using static Teleport.Orchestrator.Tests.MigrationScript;
using static Teleport.Orchestrator.Tests.SagaTestHost;

namespace Teleport.Orchestrator.Tests;

/// <summary>
/// The host ends a pause that outlived PauseVm's budget by itself (path switched back, VM resumed on the source) and
/// reports HostOperationFailed("pause budget"); the saga reconciles: it rolls back and fails cleanly, and the host's
/// refusal of the forward resume that crossed the report changes nothing.
/// </summary>
public sealed class PauseBudgetSagaTests
{
    [Theory]
    [InlineData("Pausing")]
    [InlineData("Switching")]
    [InlineData("Resuming")]
    public async Task A_spent_pause_budget_rolls_back_and_fails_cleanly(string state)
    {
        await using var host = await StartAsync();
        var m = new MigrationScript(host);
        await m.DriveTo(state);
        int resumesBefore = host.SentCount<ResumeVm>(m.Id);

        await host.Publish(m.HostFailed(HostOperationNames.PauseBudget));
        if (state != "Pausing")
        {
            await host.Sent<SwitchBack>(m.Id, HostQueue(Host));
            await host.WaitForState(m.Id, "RollingBackSwitch");
            // The forward resume the host refused (its path leads to the source) is not the rollback's failure.
            await host.Publish(m.HostFailed(HostOperationNames.Resume));
            await host.Publish(m.SwitchedBack());
        }

        var resume = await host.Sent<ResumeVm>(m.Id, HostQueue(Host), index: resumesBefore);
        Assert.Null(resume.StorageId);
        await host.WaitForState(m.Id, "RollingBackResume");
        await host.Publish(m.ResumedOnSource());

        await MigrationRollbackTests.ExpectAbortsAndFailure(host, m.Id, MigrationPhases.CutOver, "host host-1 could not pause budget");
        var row = await host.Row(m.Id);
        Assert.False(row!.Run.RollbackIncomplete);
        Assert.Equal(0, host.PublishedCount<MigrationSucceeded>(m.Id));
        host.AssertNoFaults();
    }

    [Fact]
    public async Task Without_a_configured_budget_the_pause_carries_none()
    {
        var settings = DefaultSettings();
        settings.PauseBudget = null;
        await using var host = await StartAsync(settings: settings);
        var m = new MigrationScript(host);
        await m.DriveTo("Pausing");
        Assert.Null((await host.Sent<PauseVm>(m.Id, HostQueue(Host))).PauseBudgetMilliseconds);
    }
}
