using System.Collections;

namespace Teleport.Contracts.Tests;

/// <summary>Compares two contract instances property by property and names every difference.</summary>
public static class ContractComparer
{
    public static IReadOnlyList<string> Differences(object expected, object actual)
    {
        var differences = new List<string>();
        Compare(expected, actual, expected.GetType().Name, differences);
        return differences;
    }

    public static void AssertSame(object expected, object actual)
    {
        Assert.IsType(expected.GetType(), actual);
        var differences = Differences(expected, actual);
        Assert.True(differences.Count == 0,
            $"{expected.GetType().Name} changed on the way:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", differences));
        Assert.Equal(expected, actual);
    }

    private static void Compare(object? expected, object? actual, string path, List<string> differences)
    {
        if (expected is null || actual is null)
        {
            if (!(expected is null && actual is null))
            {
                differences.Add($"{path}: expected {Show(expected)}, got {Show(actual)}");
            }

            return;
        }

        var type = expected.GetType();
        if (type.Namespace == "Teleport.Contracts" && ContractTypes.IsRecord(type))
        {
            foreach (var property in type.GetProperties().Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract"))
            {
                Compare(property.GetValue(expected), property.GetValue(actual), $"{path}.{property.Name}", differences);
            }

            return;
        }

        if (expected is DateTimeOffset expectedTime && actual is DateTimeOffset actualTime)
        {
            // Equals ignores the offset; the offset is part of what was sent.
            if (expectedTime != actualTime || expectedTime.Offset != actualTime.Offset)
            {
                differences.Add($"{path}: expected {expectedTime:O}, got {actualTime:O}");
            }

            return;
        }

        if (expected is IEnumerable expectedItems and not string && actual is IEnumerable actualItems)
        {
            var left = expectedItems.Cast<object?>().ToList();
            var right = actualItems.Cast<object?>().ToList();
            if (left.Count != right.Count)
            {
                differences.Add($"{path}: expected {left.Count} items, got {right.Count}");
                return;
            }

            for (int i = 0; i < left.Count; i++)
            {
                Compare(left[i], right[i], $"{path}[{i}]", differences);
            }

            return;
        }

        if (!expected.Equals(actual))
        {
            differences.Add($"{path}: expected {Show(expected)}, got {Show(actual)}");
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        _ => value.ToString() ?? value.GetType().Name,
    };
}
