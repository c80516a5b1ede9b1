namespace Teleport.Nbd.Protocol;

/// <summary>Magic numbers of the NBD wire protocol (all sent big-endian).</summary>
public static class NbdMagic
{
    /// <summary>"NBDMAGIC": first eight bytes the server sends.</summary>
    public const ulong InitPassword = 0x4e42444d41474943UL;

    /// <summary>"IHAVEOPT": newstyle negotiation, also prefixes every client option.</summary>
    public const ulong OptionRequest = 0x49484156454F5054UL;

    /// <summary>Prefix of every option reply.</summary>
    public const ulong OptionReply = 0x3e889045565a9UL;

    public const uint Request = 0x25609513;
    public const uint SimpleReply = 0x67446698;
    public const uint StructuredReply = 0x668e33ef;

    /// <summary>Size of a transmission request header.</summary>
    public const int RequestHeaderLength = 28;

    /// <summary>Size of a simple reply header.</summary>
    public const int SimpleReplyHeaderLength = 16;

    /// <summary>Size of a structured reply chunk header.</summary>
    public const int StructuredReplyHeaderLength = 20;

    /// <summary>Size of an option request header (magic, option, length).</summary>
    public const int OptionHeaderLength = 16;

    /// <summary>Size of an option reply header (magic, option, type, length).</summary>
    public const int OptionReplyHeaderLength = 20;

    /// <summary>Zero padding that ends NBD_OPT_EXPORT_NAME unless NO_ZEROES was agreed.</summary>
    public const int ExportNamePadding = 124;
}
