using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Platform.Data.Migrations
{
    /// <inheritdoc />
    public partial class CredentialBudgets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // What a budget's trailing minute still holds at `at`: it drains at the limit per minute, as the provider's
            // bucket refills; with the limit unknown, whatever it held drains within a minute. One definition for every
            // statement that reads or writes a budget (CredentialBudgets).
            migrationBuilder.Sql("""
                CREATE FUNCTION budget_held(held float8, per_minute int, since timestamptz, at timestamptz) RETURNS float8
                LANGUAGE sql IMMUTABLE AS $$
                  SELECT CASE WHEN per_minute IS NULL
                              THEN greatest(0, held * (1 - least(1, greatest(0, extract(epoch FROM at - since)) / 60)))
                              ELSE greatest(0, held - greatest(0, extract(epoch FROM at - since)) * per_minute / 60.0) END
                $$
                """);

            migrationBuilder.AddColumn<double>(
                name: "mean_tokens",
                table: "user_shares",
                type: "double precision",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "budget_credential_id",
                table: "tasks",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "reserved_tokens",
                table: "tasks",
                type: "integer",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "credential_budgets",
                columns: table => new
                {
                    credential_id = table.Column<Guid>(type: "uuid", nullable: false),
                    rpm = table.Column<int>(type: "integer", nullable: true),
                    tpm = table.Column<int>(type: "integer", nullable: true),
                    limits_configured = table.Column<bool>(type: "boolean", nullable: false),
                    requests = table.Column<double>(type: "double precision", nullable: false),
                    tokens = table.Column<double>(type: "double precision", nullable: false),
                    refilled_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    paused_until = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    key_hint = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_credential_budgets", x => x.credential_id);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP FUNCTION budget_held(float8, int, timestamptz, timestamptz)");

            migrationBuilder.DropTable(
                name: "credential_budgets");

            migrationBuilder.DropColumn(
                name: "mean_tokens",
                table: "user_shares");

            migrationBuilder.DropColumn(
                name: "budget_credential_id",
                table: "tasks");

            migrationBuilder.DropColumn(
                name: "reserved_tokens",
                table: "tasks");
        }
    }
}
