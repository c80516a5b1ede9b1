using Teleport.Nbd.Client;

namespace Teleport.Host.Switching;

/// <summary>One open connection to an upstream export. A new instance per (re)connect, compared by reference.</summary>
internal sealed class UpstreamConnection(NbdClient client, UpstreamTarget target)
{
    public NbdClient Client { get; } = client;

    public UpstreamTarget Target { get; } = target;
}
