namespace Teleport.Benchmarks;

/// <summary>This process's page faults so far, from /proc/self/stat: minor (page in the cache, only mapped) and major (read from disk).</summary>
internal readonly record struct ProcessFaults(long Minor, long Major)
{
    public static ProcessFaults Read()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        // Fields after the command name (which may hold spaces) start with the state, field 3; minflt is 10, majflt 12.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return new ProcessFaults(long.Parse(fields[7]), long.Parse(fields[9]));
    }

    public static ProcessFaults operator -(ProcessFaults after, ProcessFaults before) =>
        new(after.Minor - before.Minor, after.Major - before.Major);
}
