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
}

public sealed class Tier
{
    [Range(1, 10_000)]
    public int Concurrency { get; init; }

    /// <summary>Slots when the user brings their own provider key; null means the same as <see cref="Concurrency"/>.</summary>
    public int? OwnKeyConcurrency { get; init; }

    /// <summary>Tasks a month; null means unlimited.</summary>
    public int? MonthlyQuota { get; init; }
}
