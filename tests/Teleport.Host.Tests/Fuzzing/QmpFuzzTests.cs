using CsCheck;
using Teleport.Host.Hypervisor;
using Teleport.Host.Tests.Support;

namespace Teleport.Host.Tests.Fuzzing;

/// <summary>
/// Property-based fuzzing of the QMP client's reading side with a real QEMU session as the seed: whatever "QEMU"
/// sends, connecting and running a command end in a result or a QMP error, never another exception or a hang.
/// </summary>
public sealed class QmpFuzzTests(QmpSessionSeed seed) : IClassFixture<QmpSessionSeed>, IDisposable
{
    private readonly TempDir _dir = new();
    private int _case;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_seed_is_a_real_qmp_session()
    {
        string text = System.Text.Encoding.UTF8.GetString(seed.FromQemu);
        Assert.StartsWith("{\"QMP\"", text, StringComparison.Ordinal);
        Assert.Contains("\"RESUME\"", text, StringComparison.Ordinal);
        Assert.Contains("CommandNotFound", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutated_qemu_output_ends_in_a_result_or_a_qmp_error()
    {
        var options = new QmpOptions { ConnectTimeout = TimeSpan.FromSeconds(5), CommandTimeout = TimeSpan.FromSeconds(5), MaxMessageLength = 64 * 1024 };
        await Fuzz.Inputs([seed.FromQemu], maxRandomLength: 1024).SampleAsync(async input =>
        {
            // The fake QEMU says its piece and hangs up, so every case ends without waiting for a timeout.
            await using var qemu = new FakeQmpServer(_dir.File($"q{Interlocked.Increment(ref _case)}.sock"), input, hangUp: true);
            await RunClientAsync(qemu.Path, options).WaitAsync(TimeSpan.FromSeconds(30));
        }, iter: 400, threads: 1);
    }

    private static async Task RunClientAsync(string path, QmpOptions options)
    {
        try
        {
            await using var client = await QmpClient.ConnectAsync(path, options);
            await client.ExecuteAsync("query-status");
            await client.ExecuteAsync("cont");
        }
        catch (Exception e) when (e is QmpConnectionException or QmpException)
        {
            // A refusal the caller can handle: what bad input must come to.
        }
    }
}
