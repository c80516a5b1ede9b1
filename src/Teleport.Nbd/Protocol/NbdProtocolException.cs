namespace Teleport.Nbd.Protocol;

/// <summary>The peer broke the NBD protocol (bad magic, impossible length, unexpected reply); the connection is unusable.</summary>
public class NbdProtocolException : NbdException
{
    public NbdProtocolException(string message) : base(message)
    {
    }

    public NbdProtocolException(string message, Exception inner) : base(message, inner)
    {
    }
}
