namespace Teleport.Testing;

/// <summary>Waits for a condition that another thread or process makes true (state without an event to await).</summary>
public static class Poll
{
    /// <summary>Returns once <paramref name="condition"/> holds; throws naming <paramref name="what"/> after <paramref name="timeout"/> (30 s by default).</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!condition())
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"still waiting for {what}");
            await Task.Delay(10);
        }
    }
}
