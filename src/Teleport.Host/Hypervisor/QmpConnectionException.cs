namespace Teleport.Host.Hypervisor;

/// <summary>The QMP socket is unusable: QEMU is gone, the socket closed, or it does not speak QMP.</summary>
public sealed class QmpConnectionException : Exception
{
    public QmpConnectionException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
