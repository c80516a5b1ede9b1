using Microsoft.AspNetCore.Routing;

namespace Teleport.Messaging.Http;

/// <summary>
/// Endpoints a role adds to its HTTP listener (<c>--http-listen</c>) beside <c>/metrics</c>, <c>/healthz</c> and
/// <c>/readyz</c>: the listener maps every implementation registered in the role's services.
/// </summary>
public interface IHttpEndpoints
{
    void Map(IEndpointRouteBuilder endpoints);
}
