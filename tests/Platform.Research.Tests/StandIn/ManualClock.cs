namespace Platform.Research.Tests.StandIn;

/// <summary>A clock the test moves by hand.</summary>
sealed class ManualClock : TimeProvider
{
    DateTimeOffset _now = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
