using System.Net;

namespace Teleport.Host.Switching;

/// <summary>An upstream NBD export: the storage worker's endpoint (TCP or Unix socket) and export name.</summary>
public sealed record UpstreamTarget(EndPoint EndPoint, string ExportName)
{
    public override string ToString() => $"{EndPoint}/{ExportName}";
}
