namespace Teleport.Transfer;

/// <summary>Where a session is (reported through <see cref="ITransferObserver"/>).</summary>
public enum TransferPhase
{
    Connecting,
    Index,
    Request,
    Copy,
    /// <summary>Dirty blocks under the threshold or round cap reached: ready for the cut-over.</summary>
    Converged,
    Final,
    Completed,
}
