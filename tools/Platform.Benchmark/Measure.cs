using System.Diagnostics;
using System.Globalization;
using Platform.Testing;

namespace Platform.Benchmark;

/// <summary>What every part of the benchmark measures with: CPU and memory from /proc, ranks, batches to wait for.</summary>
public static class Measure
{
    public static IEnumerable<object> Inputs(int count, int durationMs) =>
        Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs } });

    public static async Task WaitDone(PlatformCluster cluster, HttpClient user, Guid batch) =>
        await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{batch}"))["status"]!.GetValue<string>(),
            status => status is "completed" or "completed_with_failures", TimeSpan.FromMinutes(10), $"batch {batch} to finish", TimeSpan.FromMilliseconds(250));

    public static double Rank(List<double> sorted, double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1)];

    public static string Summary(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return $"mean {sorted.Average():0.0}, p50 {Rank(sorted, 0.5):0.0}, p99 {Rank(sorted, 0.99):0.0}";
    }

    // CPU seconds so far of each service process, of PostgreSQL and RabbitMQ (all their processes), of the whole machine, and
    // what a virtual machine's host took from it (steal).
    public static Dictionary<string, double> Snapshot(PlatformCluster cluster)
    {
        var cpu = cluster.Services.ToDictionary(s => s.Name, s => CpuSeconds(s.Id));
        var servers = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(d => d!.All(char.IsAsciiDigit))
            .Select(d => (Pid: int.Parse(d!, CultureInfo.InvariantCulture), Comm: ReadOrEmpty($"/proc/{d}/comm").Trim()))
            .ToList();
        cpu["postgresql"] = servers.Where(p => p.Comm == "postgres").Sum(p => CpuSecondsOrZero(p.Pid));
        cpu["rabbitmq"] = servers.Where(p => p.Comm is "beam.smp" or "erl_child_setup" or "epmd" or "inet_gethost").Sum(p => CpuSecondsOrZero(p.Pid));
        var total = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        cpu["machine"] = (total.Sum() - total[3] - total[4] - total[7]) / 100.0; // all but idle, iowait and steal
        cpu["stolen"] = total[7] / 100.0; // by the hypervisor for other guests: on a shared host, most of the run-to-run noise
        return cpu;
    }

    public static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; }
    }

    public static double CpuSecondsOrZero(int pid)
    {
        try { return CpuSeconds(pid); }
        catch (IOException) { return 0; } // ended meanwhile: a short-lived backend
    }

    // utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s).
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    public static long Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
