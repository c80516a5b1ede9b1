namespace Teleport.Transfer;

/// <summary>
/// Progress callbacks of a session (all optional). Called from the session's own tasks: keep them quick and
/// do not block; a throwing observer fails the session.
/// </summary>
public interface ITransferObserver
{
    void OnPhase(TransferPhase phase) { }

    /// <summary>The index phase ended and the destination knows what it lacks (source: once per migration, when the
    /// request list arrived; destination: when it sent the list).</summary>
    void OnIndexResolved(IndexReport report) { }

    void OnRound(RoundReport report) { }

    /// <summary>Destination with a fence: the final round's blocks are fenced and the volume may be served now.</summary>
    void OnFenced(long fencedBlocks) { }

    /// <summary>The connection dropped; the session reconnects (attempt counts from 1).</summary>
    void OnReconnect(int attempt, Exception error) { }

    /// <summary>A connection was refused before or during authentication (destination side).</summary>
    void OnRejected(Exception error) { }
}
