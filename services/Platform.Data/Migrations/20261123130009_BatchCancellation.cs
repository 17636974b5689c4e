using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Platform.Data.Migrations
{
    /// <inheritdoc />
    public partial class BatchCancellation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "cancel_requested_at",
                table: "batches",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "cancelling",
                table: "batches",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateIndex(
                name: "ix_batches_cancelling",
                table: "batches",
                column: "cancel_requested_at",
                filter: "cancelling");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_batches_cancelling",
                table: "batches");

            migrationBuilder.DropColumn(
                name: "cancel_requested_at",
                table: "batches");

            migrationBuilder.DropColumn(
                name: "cancelling",
                table: "batches");
        }
    }
}
