namespace Teleport.Nbd.Client;

/// <summary>Choices of an <see cref="NbdClient"/>.</summary>
public sealed class NbdClientOptions
{
    /// <summary>Ask for structured replies (the server may refuse; simple replies are used then).</summary>
    public bool StructuredReplies { get; init; } = true;

    /// <summary>Requests in flight at once; further calls wait for a free slot.</summary>
    public int MaxInFlightRequests { get; init; } = 64;

    /// <summary>Largest read/write per request when the server does not advertise a maximum.</summary>
    public int DefaultMaxPayload { get; init; } = 32 * 1024 * 1024;
}
