using System.Text;

namespace Teleport.Cli.Tests;

/// <summary>A StringWriter that a running command and the test may use at once.</summary>
public sealed class SyncStringWriter : StringWriter
{
    private readonly Lock _gate = new();

    public override void Write(char value)
    {
        lock (_gate)
            base.Write(value);
    }

    public override void Write(string? value)
    {
        lock (_gate)
            base.Write(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (_gate)
            base.Write(buffer, index, count);
    }

    public override void WriteLine(string? value)
    {
        lock (_gate)
            base.WriteLine(value);
    }

    public override string ToString()
    {
        lock (_gate)
            return base.ToString();
    }

    public override Encoding Encoding => Encoding.UTF8;
}
