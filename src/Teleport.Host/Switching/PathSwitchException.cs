namespace Teleport.Host.Switching;

/// <summary>A switch was refused or failed; the path switcher still uses its previous upstream.</summary>
public sealed class PathSwitchException(string message, Exception? inner = null) : Exception(message, inner);
