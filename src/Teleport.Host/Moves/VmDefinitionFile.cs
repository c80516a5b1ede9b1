using System.Text.Json;
using Teleport.Contracts;

namespace Teleport.Host.Moves;

/// <summary>
/// Reads a source VM's definition file (<c>Host:Vms:ID:DefinitionFile</c>):
/// <c>{ "arguments": ["-machine", "q35", "-m", "256", ...], "diskNodeName": "disk0" }</c>. The memory size comes
/// from its -m, the disk size from the VM's disk path.
/// </summary>
internal static class VmDefinitionFile
{
    private const int MaxLength = 256 * 1024;

    /// <exception cref="InvalidDataException">The file is missing, too large, not that JSON, or has no -m.</exception>
    public static async Task<VmDefinition> ReadAsync(string path, long diskBytes, CancellationToken cancellationToken)
    {
        FileContents? contents;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                throw new InvalidDataException($"the VM definition file '{path}' does not exist");
            if (info.Length > MaxLength)
                throw new InvalidDataException($"the VM definition file '{path}' is {info.Length} bytes; at most {MaxLength} are read");
            await using var stream = File.OpenRead(path);
            contents = await JsonSerializer.DeserializeAsync<FileContents>(stream, Json, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"the VM definition file '{path}' cannot be read: {e.Message}", e);
        }

        if (contents?.Arguments is null || string.IsNullOrEmpty(contents.DiskNodeName))
            throw new InvalidDataException($"the VM definition file '{path}' needs \"arguments\" (a list of QEMU arguments) and \"diskNodeName\"");
        long memory = VmDefinitionValidator.MemoryBytes(contents.Arguments) is > 0 and var m
            ? m
            : throw new InvalidDataException($"the VM definition file '{path}' needs a valid -m (the memory size)");
        return new VmDefinition(contents.Arguments, contents.DiskNodeName, diskBytes, memory);
    }

    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true, AllowTrailingCommas = true };

    private sealed record FileContents(List<string>? Arguments, string? DiskNodeName);
}
