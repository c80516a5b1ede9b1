# The one image of every Teleport role: `teleport orchestrator`, `teleport storage`, `teleport host` and the
# operator commands (migrate, status, watch, replay). docker-compose.yml builds every Teleport service from it.
#
#   docker build -t teleport .
#   docker run --rm teleport --help
#
# Stage 1 publishes src/Teleport.Cli with the .NET SDK (ReadyToRun, for the platform being built); stage 2 is the .NET runtime and the published files,
# run as the image's unprivileged `app` user.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
# amd64 or arm64: set by BuildKit; the legacy builder (docker-compose 1.x) leaves it empty, and the build stage's own
# architecture is used. The SDK takes either name for --arch.
ARG TARGETARCH
WORKDIR /src
# Restore first, from the project files only, so a source change does not invalidate the package layer. Every
# project under src/ and contracts/ is listed (DeploymentFileTests checks that none is missing).
COPY global.json nuget.config Directory.Build.props Directory.Packages.props ./
COPY contracts/Teleport.Contracts/Teleport.Contracts.csproj contracts/Teleport.Contracts/
COPY src/Teleport.Blocks/Teleport.Blocks.csproj src/Teleport.Blocks/
COPY src/Teleport.Transfer/Teleport.Transfer.csproj src/Teleport.Transfer/
COPY src/Teleport.Nbd/Teleport.Nbd.csproj src/Teleport.Nbd/
COPY src/Teleport.Messaging/Teleport.Messaging.csproj src/Teleport.Messaging/
COPY src/Teleport.Storage/Teleport.Storage.csproj src/Teleport.Storage/
COPY src/Teleport.Host/Teleport.Host.csproj src/Teleport.Host/
COPY src/Teleport.Orchestrator/Teleport.Orchestrator.csproj src/Teleport.Orchestrator/
COPY src/Teleport.Cli/Teleport.Cli.csproj src/Teleport.Cli/
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && dotnet restore src/Teleport.Cli/Teleport.Cli.csproj -a "$arch" -p:PublishReadyToRun=true
COPY contracts/ contracts/
COPY src/ src/
# As infra/publish.sh: framework-dependent and ReadyToRun, so a role starts without JIT-compiling its start-up path.
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && dotnet publish src/Teleport.Cli/Teleport.Cli.csproj -c Release -a "$arch" --self-contained false \
    -p:PublishReadyToRun=true --no-restore -o /out

FROM mcr.microsoft.com/dotnet/runtime:10.0
# Volumes and the content index of a storage worker, sockets of a host worker, the orchestrator's SQLite file
# when no PostgreSQL is configured: owned by `app`, so named volumes mounted there start out writable.
RUN mkdir -p /var/lib/teleport/volumes /var/lib/teleport/index /var/lib/teleport/orchestrator /run/teleport \
    && chown -R app:app /var/lib/teleport /run/teleport
COPY --from=build /out /app
USER app
WORKDIR /var/lib/teleport
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_gcServer=0
ENTRYPOINT ["/app/teleport"]
CMD ["--help"]
