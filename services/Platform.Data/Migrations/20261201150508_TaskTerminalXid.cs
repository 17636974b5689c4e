using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Platform.Data.Migrations
{
    /// <inheritdoc />
    public partial class TaskTerminalXid : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The event streams' gap-free cursor (docs/api.md, "Event streams"): the id of the transaction that ended each
            // task. A trigger rather than each UPDATE that ends a task, so that no path (worker, fault, cancellation,
            // reconciler, and any added later) can forget it; it runs once per task, inside the UPDATE that happens anyway.
            // Not in the EF model: nothing but the streams' own SQL reads it, and EF never writes it.
            migrationBuilder.Sql("ALTER TABLE tasks ADD COLUMN terminal_xid xid8;");
            migrationBuilder.Sql("""
                CREATE FUNCTION tasks_stamp_terminal_xid() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  NEW.terminal_xid := pg_current_xact_id();
                  RETURN NEW;
                END
                $$;
                """);
            migrationBuilder.Sql("""
                CREATE TRIGGER tasks_terminal_xid BEFORE UPDATE OF status ON tasks FOR EACH ROW
                WHEN (NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status NOT IN ('completed', 'failed', 'cancelled'))
                EXECUTE FUNCTION tasks_stamp_terminal_xid();
                """);
            // Tasks that ended before the column existed sort first: 3 is the first normal transaction id.
            migrationBuilder.Sql("UPDATE tasks SET terminal_xid = '3' WHERE status IN ('completed', 'failed', 'cancelled');");
            // A stream's read: a batch's terminal tasks after a cursor, in cursor order. Partial, so that a submission's
            // inserts add no entry to it: a task enters it once, when it ends.
            migrationBuilder.Sql("CREATE INDEX ix_tasks_terminal ON tasks (batch_id, terminal_xid, task_id) WHERE terminal_xid IS NOT NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP INDEX ix_tasks_terminal;");
            migrationBuilder.Sql("DROP TRIGGER tasks_terminal_xid ON tasks;");
            migrationBuilder.Sql("DROP FUNCTION tasks_stamp_terminal_xid();");
            migrationBuilder.Sql("ALTER TABLE tasks DROP COLUMN terminal_xid;");
        }
    }
}
