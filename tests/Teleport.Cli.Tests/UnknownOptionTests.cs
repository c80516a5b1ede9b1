namespace Teleport.Cli.Tests;

/// <summary>A mistyped flag is bad input on every command: exit 2 and one line naming it, never silently ignored.</summary>
public sealed class UnknownOptionTests
{
    [Theory]
    [InlineData("bandwith", "send", "--to", "127.0.0.1:1", "--volume", "v.img", "--secret-file", "s", "--bandwith", "1mbit")]
    [InlineData("indx", "receive", "--listen", "127.0.0.1:0", "--volume", "v.img", "--size", "4096", "--secret-file", "s", "--indx", "dir")]
    [InlineData("jsn", "index", "stats", "--index", "dir", "--jsn")]
    [InlineData("nbd-lisen", "storage", "--id", "a", "--volumes", "dir", "--nbd-listen", "127.0.0.1:0", "--nbd-lisen", "x")]
    [InlineData("all-of-them", "status", "--db", "x.db", "--all-of-them")]
    public void Unknown_option_is_refused(string unknown, params string[] args)
    {
        var run = CliRun.Of(args);

        Assert.Equal(2, run.ExitCode);
        string line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Unknown option", line);
        Assert.Contains($"'{unknown}'", line);
    }
}
