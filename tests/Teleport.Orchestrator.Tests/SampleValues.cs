using System.Reflection;

namespace Teleport.Orchestrator.Tests;

/// <summary>Distinct non-default values for every column of a saga row or of its attempt, found by reflection.</summary>
public static class SampleValues
{
    /// <summary>The writable scalar properties of <paramref name="type"/> (the attempt, a group, is filled on its own).</summary>
    public static IEnumerable<PropertyInfo> Columns(Type type) =>
        type.GetProperties().Where(p => p.CanWrite && p.PropertyType != typeof(MigrationAttempt));

    /// <summary>Sets every column of <paramref name="target"/>, numbering on from <paramref name="n"/>; returns the last number used.</summary>
    public static int Fill(object target, int n = 0)
    {
        foreach (var property in Columns(target.GetType()))
        {
            n++;
            property.SetValue(target, Sample(property, n));
        }

        return n;
    }

    // Timestamps with an offset and sub-millisecond parts; OptionUseIndex defaults to true, so false is its sample.
    private static object Sample(PropertyInfo property, int n)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        return type switch
        {
            _ when type == typeof(Guid) => Guid.NewGuid(),
            _ when type == typeof(string) => $"{property.Name}-ü✓-{n}",
            _ when type == typeof(int) => 1000 + n,
            _ when type == typeof(long) => (1L << 40) + n,
            _ when type == typeof(double) => 1234.5678 + n,
            _ when type == typeof(bool) => property.Name != nameof(MigrationState.OptionUseIndex),
            _ when type == typeof(DateTimeOffset) => new DateTimeOffset(2026, 11, 24, 21, 0, 0, TimeSpan.Zero).AddSeconds(n).AddTicks(1230),
            _ when type == typeof(DateTime) => new DateTime(2026, 11, 24, 23, 0, n, 123, DateTimeKind.Utc),
            _ => throw new InvalidOperationException($"no sample for {property.Name} ({type})"),
        };
    }
}
