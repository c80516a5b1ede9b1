using System.Text;

namespace Teleport.Transfer.Protocol;

/// <summary>Either direction, last frame before closing: u16 code, UTF-8 text.</summary>
internal static class ErrorMessage
{
    public const int MaxText = 1024;

    public static TransferException Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Error);
        ushort code = r.U16();
        var text = r.Rest();
        string message = Encoding.UTF8.GetString(text[..Math.Min(text.Length, MaxText)]);
        var known = Enum.IsDefined(typeof(TransferErrorCode), code) ? (TransferErrorCode)code : TransferErrorCode.Internal;
        return new TransferException(known, message, remote: true);
    }

    public static int Write(Span<byte> payload, TransferErrorCode code, string message)
    {
        var w = new PayloadWriter(payload);
        w.U16((ushort)code);
        string text = message.Length > MaxText / 4 ? message[..(MaxText / 4)] : message;
        int n = Encoding.UTF8.GetBytes(text, payload[w.Written..]);
        return w.Written + n;
    }
}
