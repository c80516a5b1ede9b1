namespace Teleport.Host.Worker;

/// <summary>
/// A storage worker this host may lead a VM's disk to (section <c>Host:Storages:&lt;storageId&gt;</c>). A
/// SwitchTarget names a storage id; the endpoint used is the one configured here, never one a message carries.
/// </summary>
public sealed class HostStorageOptions
{
    /// <summary>The storage worker's NBD endpoint: <c>HOST:PORT</c> or <c>unix:/path</c>.</summary>
    public string Nbd { get; set; } = "";
}
