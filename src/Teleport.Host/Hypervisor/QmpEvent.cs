using System.Text.Json;

namespace Teleport.Host.Hypervisor;

/// <summary>An asynchronous QMP event ("STOP", "RESUME", ...). <see cref="Data"/> is detached from the parser.</summary>
public sealed record QmpEvent(string Name, DateTimeOffset Timestamp, JsonElement? Data);
