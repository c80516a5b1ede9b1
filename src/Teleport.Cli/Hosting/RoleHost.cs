using Microsoft.Extensions.Hosting;

namespace Teleport.Cli.Hosting;

/// <summary>A role's built generic host, its name in log lines and how long it may take to stop.</summary>
public sealed record RoleHost(IHost Host, string Name, TimeSpan StopTimeout);
