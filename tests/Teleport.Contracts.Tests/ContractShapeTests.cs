using System.Reflection;
using System.Xml.Linq;

namespace Teleport.Contracts.Tests;

/// <summary>Contracts stay plain data: sealed records in one namespace, documented, immutable.</summary>
public sealed class ContractShapeTests
{
    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Is_a_sealed_record_in_the_contracts_namespace(string contract)
    {
        var type = ContractTypes.ByName(contract);

        Assert.Equal("Teleport.Contracts", type.Namespace);
        Assert.True(ContractTypes.IsRecord(type), $"{contract} is not a record");
        Assert.True(type.IsSealed, $"{contract} is not sealed");
        Assert.False(type.IsGenericType, $"{contract} is generic");
    }

    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Has_no_settable_properties(string contract)
    {
        var type = ContractTypes.ByName(contract);

        // Positional records have init-only setters: settable only while constructing.
        var mutable = type.GetProperties()
            .Where(p => p.SetMethod is { IsPublic: true } setter &&
                        !setter.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(System.Runtime.CompilerServices.IsExternalInit)))
            .Select(p => p.Name)
            .ToList();

        Assert.True(mutable.Count == 0, $"{contract} has mutable properties: {string.Join(", ", mutable)}");
    }

    [Fact]
    public void Every_public_type_has_a_doc_comment()
    {
        var docs = DocumentationFile();
        var documented = docs.Descendants("member")
            .Where(m => !string.IsNullOrWhiteSpace(m.Element("summary")?.Value))
            .Select(m => (string?)m.Attribute("name"))
            .ToHashSet();

        var undocumented = ContractTypes.Assembly.GetExportedTypes()
            .Where(t => !documented.Contains($"T:{t.FullName}"))
            .Select(t => t.Name)
            .ToList();

        Assert.True(undocumented.Count == 0, $"no <summary> on: {string.Join(", ", undocumented)}");
    }

    private static XDocument DocumentationFile()
    {
        string path = Path.ChangeExtension(ContractTypes.Assembly.Location, ".xml");
        Assert.True(File.Exists(path), $"{path} is missing: Teleport.Contracts must build with GenerateDocumentationFile");
        return XDocument.Load(path);
    }
}
