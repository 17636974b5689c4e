using Platform.Dispatch;

namespace Platform.Orchestrator.Tests.Dispatch;

[TestFixture]
public sealed class When_the_round_robin_chooses_tasks
{
    static readonly DateTimeOffset Monday = new(2026, 11, 23, 9, 0, 0, TimeSpan.Zero);

    static BatchLane Lane(string name, long lastTurn, int createdMinute, int tasks) =>
        new(BatchId(name), lastTurn, Monday.AddMinutes(createdMinute),
            Enumerable.Range(0, tasks).Select(i => TaskId(name, i)).ToList());

    // Readable ids: batch "A" is 0a000000-…, its task 2 is 0a000000-…-000000000002.
    static Guid BatchId(string name) => new($"{(int)name[0]:x8}-0000-0000-0000-000000000000");

    static Guid TaskId(string name, int i) => new($"{(int)name[0]:x8}-0000-0000-0000-{i:x12}");

    [Test]
    public void Should_alternate_between_batches_of_equal_priority()
    {
        long turn = 10;
        var lanes = new[] { Lane("A", lastTurn: 0, createdMinute: 0, tasks: 5), Lane("B", lastTurn: 0, createdMinute: 1, tasks: 5) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2, 3], ref turn);

        Assert.That(picks.Select(p => p.BatchId),
            Is.EqualTo(new[] { BatchId("A"), BatchId("B"), BatchId("A"), BatchId("B") }));
    }

    [Test]
    public void Should_start_with_the_batch_whose_last_turn_is_oldest()
    {
        long turn = 10;
        var lanes = new[] { Lane("A", lastTurn: 9, createdMinute: 0, tasks: 5), Lane("B", lastTurn: 4, createdMinute: 1, tasks: 5) };

        var picks = RoundRobin.Choose(lanes, [0], ref turn);

        Assert.That(picks.Single().BatchId, Is.EqualTo(BatchId("B")));
    }

    [Test]
    public void Should_break_a_tie_in_favour_of_the_older_batch()
    {
        long turn = 10;
        // Listed newest first, so the order of the list cannot be what decides.
        var lanes = new[] { Lane("N", lastTurn: 3, createdMinute: 5, tasks: 1), Lane("O", lastTurn: 3, createdMinute: 0, tasks: 1) };

        var picks = RoundRobin.Choose(lanes, [0], ref turn);

        Assert.That(picks.Single().BatchId, Is.EqualTo(BatchId("O")));
    }

    [Test]
    public void Should_let_a_new_batch_join_the_rotation_without_catching_up()
    {
        long turn = 100;
        // A has had 100 turns; B is new (never picked). B goes first, then they alternate: B does not get 100 in a row.
        var lanes = new[] { Lane("A", lastTurn: 100, createdMinute: 0, tasks: 10), Lane("B", lastTurn: 0, createdMinute: 9, tasks: 10) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2, 3, 4], ref turn);

        Assert.That(picks.Select(p => p.BatchId),
            Is.EqualTo(new[] { BatchId("B"), BatchId("A"), BatchId("B"), BatchId("A"), BatchId("B") }));
    }

    [Test]
    public void Should_take_each_batch_s_tasks_in_their_order()
    {
        // The user's turn is never behind a batch's last turn: both are drawn from the same counter.
        long turn = 2;
        var lanes = new[] { Lane("A", lastTurn: 1, createdMinute: 0, tasks: 3), Lane("B", lastTurn: 2, createdMinute: 1, tasks: 3) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2, 3], ref turn);

        Assert.That(picks.Select(p => p.TaskId),
            Is.EqualTo(new[] { TaskId("A", 0), TaskId("B", 0), TaskId("A", 1), TaskId("B", 1) }));
    }

    [Test]
    public void Should_give_free_slots_to_the_other_batch_when_one_runs_dry()
    {
        long turn = 0;
        var lanes = new[] { Lane("A", 0, 0, tasks: 1), Lane("B", 0, 1, tasks: 5) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2, 3], ref turn);

        Assert.That(picks.Select(p => p.BatchId),
            Is.EqualTo(new[] { BatchId("A"), BatchId("B"), BatchId("B"), BatchId("B") }));
    }

    [Test]
    public void Should_stop_when_no_batch_has_tasks_left()
    {
        long turn = 7;
        var lanes = new[] { Lane("A", 0, 0, tasks: 1), Lane("B", 0, 1, tasks: 0) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2], ref turn);

        Assert.Multiple(() =>
        {
            Assert.That(picks.Select(p => p.TaskId), Is.EqualTo(new[] { TaskId("A", 0) }));
            Assert.That(turn, Is.EqualTo(8), "only a pick advances the turn");
        });
    }

    [Test]
    public void Should_assign_the_free_slots_in_the_order_given()
    {
        long turn = 0;
        var lanes = new[] { Lane("A", 0, 0, tasks: 3) };

        var picks = RoundRobin.Choose(lanes, [1, 3, 4], ref turn);

        Assert.That(picks.Select(p => p.Slot), Is.EqualTo(new[] { 1, 3, 4 }));
    }

    [Test]
    public void Should_number_turns_on_from_the_user_s_last_turn()
    {
        long turn = 41;
        var lanes = new[] { Lane("A", 0, 0, tasks: 2), Lane("B", 0, 1, tasks: 2) };

        var picks = RoundRobin.Choose(lanes, [0, 1, 2], ref turn);

        Assert.Multiple(() =>
        {
            Assert.That(picks.Select(p => p.Turn), Is.EqualTo(new long[] { 42, 43, 44 }));
            Assert.That(turn, Is.EqualTo(44), "the caller stores this as the user's next starting turn");
        });
    }

    [Test]
    public void Should_choose_nothing_without_free_slots()
    {
        long turn = 5;
        var lanes = new[] { Lane("A", 0, 0, tasks: 3) };

        var picks = RoundRobin.Choose(lanes, [], ref turn);

        Assert.Multiple(() =>
        {
            Assert.That(picks, Is.Empty);
            Assert.That(turn, Is.EqualTo(5));
        });
    }

    [Test]
    public void Should_keep_two_batches_within_one_task_of_each_other_over_many_decisions()
    {
        // Invariant 2 of the design, over a run of decisions that each see only one or two free slots, as in production.
        long turn = 0;
        var started = new Dictionary<Guid, int> { [BatchId("A")] = 0, [BatchId("B")] = 0 };
        var lastTurn = new Dictionary<Guid, long> { [BatchId("A")] = 0, [BatchId("B")] = 0 };
        for (var decision = 0; decision < 50; decision++)
        {
            var lanes = new[]
            {
                new BatchLane(BatchId("A"), lastTurn[BatchId("A")], Monday, [Guid.NewGuid(), Guid.NewGuid()]),
                new BatchLane(BatchId("B"), lastTurn[BatchId("B")], Monday.AddMinutes(1), [Guid.NewGuid(), Guid.NewGuid()]),
            };
            foreach (var pick in RoundRobin.Choose(lanes, decision % 3 == 0 ? [0, 1] : [0], ref turn))
            {
                started[pick.BatchId]++;
                lastTurn[pick.BatchId] = pick.Turn;
            }

            Assert.That(Math.Abs(started[BatchId("A")] - started[BatchId("B")]), Is.LessThanOrEqualTo(1), $"after decision {decision}");
        }
    }
}
