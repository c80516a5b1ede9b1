using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Storage.Retention;
using Teleport.Storage.Volumes;

namespace Teleport.Cli.Commands;

/// <summary>Options of <c>teleport volumes</c>.</summary>
public sealed class VolumesSettings : JsonSettings
{
    [CommandOption("--volumes <DIR>")]
    [Description("A storage worker's volume directory (Storage:VolumeDirectory).")]
    public string VolumeDirectory { get; init; } = "";

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(VolumeDirectory) ? ValidationResult.Error("--volumes DIR is required") : base.Validate();
}

/// <summary>One line of <c>teleport volumes</c>: Kind is volume, incoming (still being received) or retained.</summary>
public sealed record VolumeRow(string Id, long SizeBytes, string Kind, DateTimeOffset? RetainedSince, DateTimeOffset? ExpiresAt, Guid? MigrationId);

/// <summary>
/// <c>teleport volumes</c>: the volumes and retained copies of a storage worker's volume directory, read from its
/// files (it works whether the worker runs or not, and changes nothing).
/// </summary>
public sealed class VolumesCommand(CliConsole console) : Command<VolumesSettings>
{
    public override int Execute(CommandContext context, VolumesSettings settings, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(settings.VolumeDirectory))
            throw new UserInputException($"no volume directory at '{settings.VolumeDirectory}'");
        var rows = Rows(settings.VolumeDirectory);
        if (settings.Json)
        {
            console.WriteJson(new { volumes = rows });
            return ExitCodes.Success;
        }

        var table = new Table().Border(TableBorder.Simple).AddColumn("id").AddColumn(new TableColumn("size").RightAligned())
            .AddColumn("kind").AddColumn("retained since").AddColumn("expires at");
        foreach (var row in rows)
            table.AddRow(Markup.Escape(row.Id), ByteSize.Format(row.SizeBytes), row.Kind, Time(row.RetainedSince), Time(row.ExpiresAt));
        console.Results.Write(table);
        return ExitCodes.Success;
    }

    public static IReadOnlyList<VolumeRow> Rows(string volumeDirectory)
    {
        var store = new VolumeStore(volumeDirectory);
        var volumes = store.List(includeIncoming: true)
            .Select(name => new VolumeRow(name, new FileInfo(store.PathOf(name)).Length, store.IsIncoming(name) ? "incoming" : "volume", null, null, null));
        var retained = new RetainedStore(volumeDirectory).Load(NullLogger.Instance, repair: false)
            .Select(c => new VolumeRow(c.VolumeId, c.Bytes, "retained", c.RetainedAt, c.ExpiresAt, c.MigrationId));
        return volumes.Concat(retained).ToArray();
    }

    private static string Time(DateTimeOffset? at) => at?.ToString("u", CultureInfo.InvariantCulture) ?? "";
}
