using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Platform.Data.Migrations
{
    /// <inheritdoc />
    public partial class TaskWorkerAndRepairIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "worker",
                table: "tasks",
                type: "text",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_tasks_running",
                table: "tasks",
                column: "dispatched_at",
                filter: "status = 'running'");

            migrationBuilder.CreateIndex(
                name: "ix_tasks_uncounted",
                table: "tasks",
                column: "finished_at",
                filter: "NOT counted AND status IN ('completed', 'failed', 'cancelled')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_tasks_running",
                table: "tasks");

            migrationBuilder.DropIndex(
                name: "ix_tasks_uncounted",
                table: "tasks");

            migrationBuilder.DropColumn(
                name: "worker",
                table: "tasks");
        }
    }
}
