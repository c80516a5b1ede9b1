using System.Reflection;

namespace Teleport.Contracts.Tests;

/// <summary>The contract types, found by reflection so that a new contract is tested without touching the tests.</summary>
public static class ContractTypes
{
    public static Assembly Assembly => typeof(MigrationRequested).Assembly;

    /// <summary>Every public type of Teleport.Contracts except static holders of names (WorkerQueues).</summary>
    public static IReadOnlyList<Type> Records { get; } =
        [.. Assembly.GetExportedTypes().Where(t => !(t.IsAbstract && t.IsSealed)).OrderBy(t => t.FullName, StringComparer.Ordinal)];

    /// <summary>The records that travel on the bus on their own: those that belong to a migration.</summary>
    public static IReadOnlyList<Type> Messages { get; } =
        [.. Records.Where(t => t.GetProperty("MigrationId")?.PropertyType == typeof(Guid))];

    /// <summary>Theory rows: one record type name each (names keep the test list readable).</summary>
    public static TheoryData<string> RecordNames()
    {
        var rows = new TheoryData<string>();
        foreach (var type in Records)
        {
            rows.Add(type.Name);
        }

        return rows;
    }

    public static Type ByName(string name) =>
        Assembly.GetType($"Teleport.Contracts.{name}", throwOnError: true)!;

    public static bool IsRecord(Type type) => type.GetMethod("<Clone>$", BindingFlags.Public | BindingFlags.Instance) is not null;

    /// <summary>The positional (primary) constructor of a record.</summary>
    public static ConstructorInfo PrimaryConstructor(Type type) =>
        type.GetConstructors(BindingFlags.Public | BindingFlags.Instance)
            .Where(c => !(c.GetParameters() is [var only] && only.ParameterType == type))
            .OrderByDescending(c => c.GetParameters().Length)
            .FirstOrDefault()
        ?? throw new InvalidOperationException($"{type.FullName} has no public positional constructor.");
}
