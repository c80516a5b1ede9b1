namespace Teleport.Transfer;

/// <summary>The observer used when none is configured.</summary>
internal sealed class NoObserver : ITransferObserver
{
    public static readonly NoObserver Instance = new();
}
