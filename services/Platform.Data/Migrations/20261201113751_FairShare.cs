using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Platform.Data.Migrations
{
    /// <inheritdoc />
    public partial class FairShare : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "user_shares",
                columns: table => new
                {
                    user_id = table.Column<string>(type: "text", nullable: false),
                    virtual_time = table.Column<double>(type: "double precision", nullable: false),
                    mean_seconds = table.Column<double>(type: "double precision", nullable: false),
                    ready = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_user_shares", x => x.user_id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_user_shares_next",
                table: "user_shares",
                columns: new[] { "virtual_time", "user_id" },
                filter: "ready");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "user_shares");
        }
    }
}
