namespace Teleport.Transfer.Protocol;

/// <summary>Frame types of the data channel (docs/protocol.md lists who sends each and its payload).</summary>
internal enum MessageType : byte
{
    Hello = 0x01,
    Challenge = 0x02,
    SourceProof = 0x03,
    DestinationProof = 0x04,
    Error = 0x0F,
    Resume = 0x10,
    IndexBatch = 0x11,
    IndexEnd = 0x12,
    Request = 0x13,
    RequestEnd = 0x14,
    UrgentRequest = 0x15,
    Data = 0x20,
    Ack = 0x21,
    RoundEnd = 0x22,
    Fence = 0x23,
    FenceEnd = 0x24,
    FinalEnd = 0x30,
    Complete = 0x31,
    Goodbye = 0x32,

    // The buddy channel between storage workers of one site (docs/protocol.md, "Buddies").
    BuddyHello = 0x40,
    BuddyLookup = 0x41,
    BuddyBlocks = 0x42,
}
