using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>The connection closed or broke; every request in flight fails with this.</summary>
public sealed class NbdConnectionException : NbdException
{
    public NbdConnectionException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
