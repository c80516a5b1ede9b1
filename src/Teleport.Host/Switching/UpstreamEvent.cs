namespace Teleport.Host.Switching;

/// <summary>A change of the upstream connection's health, raised by <see cref="PathSwitcher.UpstreamChanged"/>.</summary>
public sealed record UpstreamEvent(UpstreamEventKind Kind, UpstreamTarget Target, int Attempt, Exception? Error, DateTimeOffset At);
