namespace Teleport.Nbd.Client;

/// <summary>One export of NBD_OPT_LIST.</summary>
public sealed record NbdExportEntry(string Name, string Description);
