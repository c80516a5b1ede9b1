using System.Net;

namespace Teleport.Cli.Tests;

/// <summary>Real HTTP GETs of a role's listener (--http-listen), and waits for an answer to turn as a test expects.</summary>
internal static class RoleHttp
{
    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(15) };

    public static async Task<(HttpStatusCode Status, string Body)> GetAsync(int port, string path)
    {
        using var response = await Client.GetAsync(new Uri($"http://127.0.0.1:{port}{path}"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>GETs <paramref name="path"/> until it answers <paramref name="status"/> and the body passes <paramref name="body"/>.</summary>
    /// <param name="role">The running role: a role that ended fails the wait at once.</param>
    public static async Task<string> WaitForAsync(int port, string path, HttpStatusCode status, Task role, Func<string, bool>? body = null, int seconds = 60)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        string last = "no answer";
        while (true)
        {
            Assert.False(role.IsCompleted, $"the role ended while waiting for {path} to answer {status}");
            try
            {
                var (got, text) = await GetAsync(port, path);
                if (got == status && (body is null || body(text)))
                    return text;
                last = $"{(int)got}: {text}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }

            Assert.True(DateTime.UtcNow < until, $"{path} did not answer {(int)status} within {seconds} s; last: {last}");
            await Task.Delay(200);
        }
    }
}
