namespace Platform.Data;

/// <summary>
/// A user's claim on a shared resource: its <see cref="Weight"/> (per tier, &gt; 0) and the most it could use at once,
/// <see cref="Cap"/> (its slots, or less when it has fewer tasks than slots).
/// </summary>
public readonly record struct ShareClaim(string UserId, double Weight, int Cap)
{
    /// <summary>What a user with work can use of the fleet: its slots, but never more tasks than it has running or queued.</summary>
    public static ShareClaim Of(FleetUser user) =>
        new(user.UserId, user.Weight, Math.Max(0, Math.Min(user.Slots, user.Running + user.Queued)));
}

/// <summary>
/// Each user's fair share of a shared resource (DESIGN.md "What users share", invariant 8; docs/fair-share.md): weighted
/// water-filling. Shares are proportional to weight, none above its cap, and what a capped user cannot use goes to the
/// others, so the shares add up to <c>min(capacity, Σ caps)</c>. What the dispatcher aims at, and what the views show.
/// </summary>
public static class FairShares
{
    /// <summary>
    /// The share (in units, fractional) of each of <paramref name="users"/> in <paramref name="capacity"/> units.
    /// Deterministic (ties broken by user id) and O(n log n). A user with a cap of 0 gets 0.
    /// </summary>
    public static IReadOnlyDictionary<string, double> Split(int capacity, IReadOnlyCollection<ShareClaim> users)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        var shares = new Dictionary<string, double>(users.Count, StringComparer.Ordinal);
        foreach (var user in users)
        {
            if (!(user.Weight > 0) || double.IsInfinity(user.Weight))
                throw new ArgumentOutOfRangeException(nameof(users), user.Weight, $"user '{user.UserId}' must have a finite weight above 0");
            ArgumentOutOfRangeException.ThrowIfNegative(user.Cap, nameof(users));
            if (!shares.TryAdd(user.UserId, 0))
                throw new ArgumentException($"user '{user.UserId}' is listed twice", nameof(users));
        }

        // Users in the order their caps bind as the water level rises (cap per weight): once one is not capped at the
        // level left over, nobody after it is, and the rest split what remains by weight.
        var order = users.OrderBy(u => u.Cap / u.Weight).ThenBy(u => u.UserId, StringComparer.Ordinal).ToList();
        double left = capacity;
        var weightLeft = order.Sum(u => u.Weight);
        for (var i = 0; i < order.Count; i++)
        {
            var user = order[i];
            if (user.Cap <= left * user.Weight / weightLeft)
            {
                shares[user.UserId] = user.Cap;
                left -= user.Cap;
                weightLeft -= user.Weight;
                continue;
            }

            var perWeight = left / weightLeft;
            // Rounding must not lift a share above its cap; the test above proved each is below it up to rounding.
            foreach (var rest in order.Skip(i))
                shares[rest.UserId] = Math.Min(rest.Cap, perWeight * rest.Weight);
            break;
        }

        return shares;
    }

    /// <summary>
    /// Each user's fair share of the fleet's <paramref name="capacity"/>, over <paramref name="users"/> (all users with work:
    /// a share depends on everyone competing). A user whose tier is no longer configured has no weight: it competes for
    /// nothing and is left out (its running tasks still count against the fleet).
    /// </summary>
    public static IReadOnlyDictionary<string, double> OfFleet(int capacity, IEnumerable<FleetUser> users) =>
        Split(capacity, users.Where(u => u.Weight > 0).Select(ShareClaim.Of).ToList());
}
