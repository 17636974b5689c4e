using System.ComponentModel.DataAnnotations;

namespace Platform.Data.Tiers;

/// <summary>Subscription tiers, from configuration (<c>Platform:Tiers:&lt;name&gt;</c>; defaults in ServiceDefaults' tiers.json).</summary>
public sealed class TierOptions
{
    public const string Section = "Platform";

    [Required, MinLength(1)]
    public Dictionary<string, Tier> Tiers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    public bool Exists(string tier) => Tiers.ContainsKey(tier);

    public Tier Get(string tier) =>
        Tiers.TryGetValue(tier, out var t) ? t : throw new KeyNotFoundException($"Unknown tier '{tier}'. Known tiers: {string.Join(", ", Tiers.Keys)}.");

    /// <summary>How many tasks the user may have in flight at once.</summary>
    public int ConcurrencyOf(string tier, bool ownProviderKey)
    {
        var t = Get(tier);
        return ownProviderKey && t.OwnKeyConcurrency is { } own ? own : t.Concurrency;
    }

    /// <summary>
    /// The tiers as parallel arrays, for SQL that joins <c>unnest(names, concurrency, own_key_concurrency, weights)</c> on
    /// <c>lower(users.tier)</c>: names lower-cased, each tier's slots, its slots with an own key, its weight.
    /// </summary>
    public (string[] Names, int[] Concurrency, int[] OwnKeyConcurrency, double[] Weights) Columns() =>
        ([.. Tiers.Keys.Select(k => k.ToLowerInvariant())], [.. Tiers.Values.Select(t => t.Concurrency)],
         [.. Tiers.Values.Select(t => t.OwnKeyConcurrency ?? t.Concurrency)], [.. Tiers.Keys.Select(WeightOf)]);

    /// <summary>The tier's weight in a weighted fair share of what users share (the fleet, a provider's budget).</summary>
    public double WeightOf(string tier)
    {
        var t = Get(tier);
        return t.Weight ?? t.Concurrency;
    }
}

public sealed class Tier
{
    [Range(1, 10_000)]
    public int Concurrency { get; init; }

    /// <summary>Slots when the user brings their own provider key; null means the same as <see cref="Concurrency"/>.</summary>
    public int? OwnKeyConcurrency { get; init; }

    /// <summary>
    /// The tier's weight when users share a short resource (DESIGN.md invariant 8); null means its
    /// <see cref="Concurrency"/>, so by default a share is proportional to the slots paid for.
    /// </summary>
    [Range(0.001, 1_000_000)]
    public double? Weight { get; init; }

    /// <summary>Tasks a month; null means unlimited.</summary>
    public int? MonthlyQuota { get; init; }
}
