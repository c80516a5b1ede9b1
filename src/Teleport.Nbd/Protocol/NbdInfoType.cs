namespace Teleport.Nbd.Protocol;

/// <summary>Information items of NBD_REP_INFO (NBD_OPT_INFO / NBD_OPT_GO).</summary>
public enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}
