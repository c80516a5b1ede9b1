using System.Reflection;

namespace Teleport.Contracts.Tests;

/// <summary>
/// Builds a contract instance with a distinct, non-default value in every field (so a dropped, defaulted or swapped
/// field shows up), or with null in every field that allows it.
/// </summary>
public sealed class ContractSamples(int seed, bool nullWhereAllowed = false)
{
    private static readonly DateTimeOffset BaseTime = new(2026, 11, 24, 21, 30, 15, TimeSpan.FromHours(2));
    private readonly NullabilityInfoContext _nullability = new();
    private int _counter;

    public object Create(Type type)
    {
        var constructor = ContractTypes.PrimaryConstructor(type);
        object?[] arguments = constructor.GetParameters().Select(p => ValueFor(p, type)).ToArray();
        return constructor.Invoke(arguments);
    }

    public T Create<T>() => (T)Create(typeof(T));

    private object? ValueFor(ParameterInfo parameter, Type owner)
    {
        var type = parameter.ParameterType;
        var underlying = Nullable.GetUnderlyingType(type);
        if (nullWhereAllowed && (underlying is not null ||
            (!type.IsValueType && _nullability.Create(parameter).WriteState == NullabilityState.Nullable)))
        {
            return null;
        }

        int n = ++_counter;
        var valueType = underlying ?? type;
        if (valueType == typeof(string))
        {
            // Quotes, a backslash and non-ASCII text exercise the JSON escaping.
            return $"{parameter.Name}-{seed}-{n} \"ü✓\\";
        }

        if (valueType == typeof(Guid))
        {
            return new Guid($"{seed:x8}-{n:x4}-4000-8000-{n:x12}");
        }

        if (valueType == typeof(int))
        {
            return 1_000 + seed * 100 + n;
        }

        if (valueType == typeof(long))
        {
            // Above 2^53: a serializer going through double would lose the low bits.
            return (1L << 60) + seed * 1_000L + n;
        }

        if (valueType == typeof(double))
        {
            return 12_345.678_901 + seed + n / 7.0;
        }

        if (valueType == typeof(bool))
        {
            return parameter.DefaultValue is bool byDefault ? !byDefault : n % 2 == 1;
        }

        if (valueType == typeof(DateTimeOffset))
        {
            return BaseTime.AddDays(seed).AddTicks(1_234_567 + n);
        }

        if (valueType == typeof(DateTime))
        {
            return BaseTime.UtcDateTime.AddDays(seed).AddTicks(1_234_567 + n);
        }

        if (valueType == typeof(TimeSpan))
        {
            return TimeSpan.FromTicks(98_765_432_1 + n);
        }

        if (valueType == typeof(IReadOnlyList<string>))
        {
            return new[] { $"{parameter.Name}-{seed}-{n}", "-machine", "q35,accel=tcg", "\"ü✓\\" };
        }

        if (valueType.IsEnum)
        {
            var values = Enum.GetValues(valueType);
            return values.GetValue(values.Length - 1);
        }

        if (valueType.Namespace == "Teleport.Contracts" && ContractTypes.IsRecord(valueType))
        {
            return Create(valueType);
        }

        throw new NotSupportedException(
            $"ContractSamples cannot make a {valueType} for {owner.Name}.{parameter.Name}: add a sample value for that type here.");
    }
}
