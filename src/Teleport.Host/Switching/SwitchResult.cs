namespace Teleport.Host.Switching;

/// <summary>
/// What a switch did and how long each step took. <see cref="Blocked"/> is the time new requests were held
/// (drain + flush of the old upstream + swap); connecting to the new upstream happens before that.
/// </summary>
public sealed record SwitchResult(
    UpstreamTarget From,
    UpstreamTarget To,
    TimeSpan Connect,
    TimeSpan Drain,
    TimeSpan Flush,
    TimeSpan Blocked,
    TimeSpan Total)
{
    /// <summary>The switch used a connection opened before it (<see cref="PathSwitcher.PreconnectAsync"/>).</summary>
    public bool Preconnected { get; init; }

    /// <summary>The export was selected on that connection before the switch: the switch crossed no network.</summary>
    public bool Preselected { get; init; }

    /// <summary>The old upstream was flushed; false when nothing had been acknowledged since the last flush (QEMU's 'stop' flushes).</summary>
    public bool FlushedOld { get; init; }
}
