namespace Platform.Dispatch;

/// <summary>A batch that has queued tasks ready: when it last got a turn, and its next tasks, oldest first.</summary>
public sealed record BatchLane(Guid BatchId, long LastTurn, DateTimeOffset CreatedAt, IReadOnlyList<Guid> NextTasks);

public sealed record Pick(Guid TaskId, Guid BatchId, int Slot, long Turn);

public static class RoundRobin
{
    /// <summary>
    /// Fills <paramref name="freeSlots"/> from the lanes, one task at a time, always from the lane whose last turn is
    /// oldest (ties: the older batch). Equal-priority batches therefore alternate, and a new batch joins the rotation at
    /// once without first "catching up". Turns continue from <paramref name="turn"/>.
    /// </summary>
    /// <param name="take">
    /// Asked before a task is picked (and takes what it needs, such as its credential's budget): a batch whose next task it
    /// refuses gets no more picks in this decision, so a batch's tasks still start in order.
    /// </param>
    public static IReadOnlyList<Pick> Choose(IReadOnlyList<BatchLane> lanes, IReadOnlyList<int> freeSlots, ref long turn, Func<Guid, bool>? take = null)
    {
        var picks = new List<Pick>(freeSlots.Count);
        var next = lanes.Select(l => (Lane: l, Taken: 0, l.LastTurn)).ToList();
        var refused = new bool[next.Count];
        foreach (var slot in freeSlots)
        {
            var best = -1;
            while (true)
            {
                best = -1;
                for (var i = 0; i < next.Count; i++)
                {
                    if (refused[i] || next[i].Taken >= next[i].Lane.NextTasks.Count)
                        continue;
                    if (best < 0 || next[i].LastTurn < next[best].LastTurn ||
                        (next[i].LastTurn == next[best].LastTurn && next[i].Lane.CreatedAt < next[best].Lane.CreatedAt))
                        best = i;
                }

                if (best < 0 || take is null || take(next[best].Lane.NextTasks[next[best].Taken]))
                    break;
                refused[best] = true;
            }

            if (best < 0)
                break;

            var (lane, taken, _) = next[best];
            turn++;
            picks.Add(new Pick(lane.NextTasks[taken], lane.BatchId, slot, turn));
            next[best] = (lane, taken + 1, turn);
        }

        return picks;
    }

    /// <summary>The lowest slot numbers 0‥<paramref name="concurrency"/>−1 not in use, as many as are free.</summary>
    public static IReadOnlyList<int> FreeSlots(int concurrency, IReadOnlyCollection<int> busy)
    {
        var free = new List<int>();
        var available = concurrency - busy.Count;
        for (var slot = 0; free.Count < available && slot < concurrency; slot++)
        {
            if (!busy.Contains(slot))
                free.Add(slot);
        }

        return free;
    }
}
