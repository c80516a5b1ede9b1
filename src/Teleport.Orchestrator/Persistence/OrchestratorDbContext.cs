using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace Teleport.Orchestrator.Persistence;

/// <summary>EF Core model of the orchestrator's tables; the schema itself is owned by <see cref="SchemaMigrator"/>.</summary>
public sealed class OrchestratorDbContext(DbContextOptions<OrchestratorDbContext> options) : DbContext(options)
{
    /// <summary>Table holding one row per migration saga.</summary>
    public const string MigrationsTable = "migrations";

    public DbSet<MigrationState> Migrations => Set<MigrationState>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var migration = modelBuilder.Entity<MigrationState>();
        migration.ToTable(MigrationsTable);
        migration.HasKey(x => x.CorrelationId);
        migration.Property(x => x.CorrelationId).ValueGeneratedNever();
        migration.Property(x => x.Version).IsConcurrencyToken();
        migration.Ignore(x => x.Options);
        migration.Ignore(x => x.MemoryOptions);
        migration.HasIndex(x => x.DeadlineUtc);
        migration.HasIndex(x => x.NudgeAtUtc);

        // The attempt is part of the row: its fields keep their own column names (schema steps 1-4 created them so).
        var attempt = migration.ComplexProperty(x => x.Run).Metadata.ComplexType;
        foreach (var property in attempt.GetProperties())
        {
            property.SetColumnName(property.Name);
        }

        // PostgreSQL's timestamptz takes only UTC values; SQLite keeps text. Normalising to UTC suits both.
        var utcOffset = new ValueConverter<DateTimeOffset, DateTimeOffset>(v => v.ToUniversalTime(), v => v.ToUniversalTime());
        var utcDateTime = new ValueConverter<DateTime, DateTime>(
            v => v.Kind == DateTimeKind.Local ? v.ToUniversalTime() : DateTime.SpecifyKind(v, DateTimeKind.Utc),
            v => DateTime.SpecifyKind(v, DateTimeKind.Utc));
        foreach (var property in migration.Metadata.GetProperties().Concat(attempt.GetProperties()))
        {
            var type = Nullable.GetUnderlyingType(property.ClrType) ?? property.ClrType;
            if (type == typeof(DateTimeOffset))
            {
                property.SetValueConverter(utcOffset);
            }
            else if (type == typeof(DateTime))
            {
                property.SetValueConverter(utcDateTime);
            }
        }
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        BumpVersions();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        BumpVersions();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    // The UPDATE's WHERE clause uses the version that was read; the row gets the next one. A writer that read
    // the same version loses with DbUpdateConcurrencyException and re-runs against fresh state.
    private void BumpVersions()
    {
        foreach (var entry in ChangeTracker.Entries<MigrationState>())
        {
            if (entry.State == EntityState.Added)
            {
                entry.Entity.Version = 1;
            }
            else if (entry.State == EntityState.Modified)
            {
                var property = entry.Property(x => x.Version);
                if (property.CurrentValue == property.OriginalValue)
                {
                    property.CurrentValue = property.OriginalValue + 1;
                }
            }
        }
    }
}
