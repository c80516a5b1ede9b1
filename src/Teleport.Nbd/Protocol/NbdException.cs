namespace Teleport.Nbd.Protocol;

/// <summary>Base of every NBD failure thrown by this library.</summary>
public class NbdException : Exception
{
    public NbdException(string message) : base(message)
    {
    }

    public NbdException(string message, Exception? inner) : base(message, inner)
    {
    }
}
