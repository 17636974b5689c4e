using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.Data;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// What a database dump reveals: the rows of provider_keys and data_protection_keys, read with Data Protection as the
/// services wire it. Each service provider here is another process's view (its own key ring cache), on the same rows.
/// </summary>
[TestFixture]
public sealed class When_the_key_ring_is_protected_by_a_master_key
{
    const string UserId = "alice";
    static readonly string ApiKey = $"sk-live-{Guid.NewGuid():N}";

    [Test]
    public async Task Should_decrypt_with_the_same_master_key_in_another_service()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_decrypt_with_the_same_master_key_in_another_service));
        var masterKey = MasterKey.Generate();
        var stored = Protect(database, masterKey);

        await using var worker = Services(database, masterKey, readOnly: true);
        Assert.That(worker.GetRequiredService<ProviderKeyProtector>().Unprotect(UserId, stored), Is.EqualTo(ApiKey));
    }

    [Test]
    public async Task Should_not_decrypt_with_the_rows_and_another_master_key()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_not_decrypt_with_the_rows_and_another_master_key));
        var stored = Protect(database, MasterKey.Generate());

        // A reader (the worker) and a writer (the intake) with another master key: neither gets the key back.
        foreach (var readOnly in new[] { true, false })
        {
            await using var other = Services(database, MasterKey.Generate(), readOnly);
            var protector = other.GetRequiredService<ProviderKeyProtector>();
            Assert.That(() => protector.Unprotect(UserId, stored), Throws.InstanceOf<CryptographicException>(),
                $"another master key (readOnly: {readOnly})");
        }
    }

    [Test]
    public async Task Should_not_decrypt_another_users_payload()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_not_decrypt_another_users_payload));
        var masterKey = MasterKey.Generate();
        var stored = Protect(database, masterKey);

        await using var worker = Services(database, masterKey, readOnly: true);
        Assert.That(() => worker.GetRequiredService<ProviderKeyProtector>().Unprotect("mallory", stored), Throws.InstanceOf<CryptographicException>());
    }

    [Test]
    public async Task Should_store_neither_the_key_nor_a_ring_key_in_the_clear()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_store_neither_the_key_nor_a_ring_key_in_the_clear));
        var masterKey = MasterKey.Generate();
        var stored = Protect(database, masterKey);

        var ring = await Rows(database, "SELECT xml FROM data_protection_keys");
        var keyId = new MasterKey(Convert.FromBase64String(masterKey)).Id;
        TestContext.Out.WriteLine($"{ring.Count} ring key(s); the first:\n{ring.FirstOrDefault()}");
        var forms = new[] { ApiKey, Convert.ToBase64String(Encoding.UTF8.GetBytes(ApiKey)), Convert.ToHexString(Encoding.UTF8.GetBytes(ApiKey)) };
        Assert.Multiple(() =>
        {
            Assert.That(ring, Has.Count.EqualTo(1), "one ring key, made by the writer");
            foreach (var xml in ring)
            {
                var document = XElement.Parse(xml);
                // Unencrypted, Data Protection stores the key material as <masterKey><value>base64</value></masterKey>.
                Assert.That(document.Descendants().Where(e => e.Name.LocalName == "masterKey"), Is.Empty, "no ring key material in the clear");
                Assert.That(document.Descendants("encryptedKey").Select(e => (string?)e.Attribute("masterKeyId")), Is.EqualTo(new[] { keyId }),
                    "the ring key is encrypted under the master key");
                Assert.That(xml, Does.Not.Contain(masterKey), "the master key itself");
            }

            foreach (var form in forms)
            {
                Assert.That(stored, Does.Not.Contain(form), "the protected payload");
                Assert.That(ring, Has.None.Contains(form), "the key ring");
            }
        });
    }

    [Test]
    public async Task Should_refuse_to_start_a_service_whose_master_key_does_not_open_the_ring()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_refuse_to_start_a_service_whose_master_key_does_not_open_the_ring));
        Protect(database, MasterKey.Generate());

        await using var other = Services(database, MasterKey.Generate(), readOnly: true);
        var check = Check(other, makesFirstKey: false);
        Assert.That(() => check.StartAsync(CancellationToken.None),
            Throws.InvalidOperationException.With.Message.Contains("does not decrypt the Data Protection key ring").And.Message.Contains("master key"));

        // The same check passes for a service with the right key (the check can tell the two apart).
        var database2 = await LocalInfrastructure.CreateDatabase(nameof(Should_refuse_to_start_a_service_whose_master_key_does_not_open_the_ring) + "_ok");
        var masterKey = MasterKey.Generate();
        Protect(database2, masterKey);
        await using var same = Services(database2, masterKey, readOnly: true);
        Assert.That(() => Check(same, makesFirstKey: false).StartAsync(CancellationToken.None),
            Throws.Nothing);
    }

    [Test]
    public async Task Should_open_the_same_payloads_with_the_next_master_key_after_a_rotation()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_open_the_same_payloads_with_the_next_master_key_after_a_rotation));
        var current = MasterKey.Generate();
        var next = MasterKey.Generate();
        var stored = Protect(database, current);

        int changed, again;
        await using (var db = new PlatformDbContext(DataExtensions.Options(database)))
        {
            changed = await MasterKeyRotation.Rewrap(db, Key(current), Key(next));
            again = await MasterKeyRotation.Rewrap(db, Key(current), Key(next));
        }

        await using var rotated = Services(database, next, readOnly: true);
        await using var stale = Services(database, current, readOnly: true);
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(1), "the ring's one key was re-encrypted");
            Assert.That(again, Is.Zero, "a rotation run twice changes nothing the second time");
            Assert.That(rotated.GetRequiredService<ProviderKeyProtector>().Unprotect(UserId, stored), Is.EqualTo(ApiKey),
                "the stored payload, unchanged, opens with the next master key");
            Assert.That(() => Check(stale, makesFirstKey: false).StartAsync(CancellationToken.None),
                Throws.InvalidOperationException, "a service still on the old master key is stopped at start");
        });
    }

    [Test]
    public async Task Should_make_one_first_key_when_two_intakes_start_at_once()
    {
        var database = await LocalInfrastructure.CreateDatabase(nameof(Should_make_one_first_key_when_two_intakes_start_at_once));
        var masterKey = MasterKey.Generate();
        await using var first = Services(database, masterKey, readOnly: false);
        await using var second = Services(database, masterKey, readOnly: false);
        await Task.WhenAll(Task.Run(() => Check(first, makesFirstKey: true).StartAsync(CancellationToken.None)),
            Task.Run(() => Check(second, makesFirstKey: true).StartAsync(CancellationToken.None)));

        var ring = await Rows(database, "SELECT xml FROM data_protection_keys");
        // Both protect with that key, and a reader that loaded the ring in between opens both payloads.
        await using var worker = Services(database, masterKey, readOnly: true);
        var reader = worker.GetRequiredService<ProviderKeyProtector>();
        var fromFirst = first.GetRequiredService<ProviderKeyProtector>().Protect(UserId, ApiKey);
        Assert.That(reader.Unprotect(UserId, fromFirst), Is.EqualTo(ApiKey));
        var fromSecond = second.GetRequiredService<ProviderKeyProtector>().Protect(UserId, ApiKey);
        Assert.Multiple(() =>
        {
            Assert.That(ring, Has.Count.EqualTo(1), "one first key");
            Assert.That(reader.Unprotect(UserId, fromSecond), Is.EqualTo(ApiKey));
        });
    }

    static KeyRingCheck Check(ServiceProvider services, bool makesFirstKey) =>
        new(services.GetRequiredService<IKeyManager>(), services.GetRequiredService<IServiceScopeFactory>(), makesFirstKey,
            services.GetRequiredService<ILogger<KeyRingCheck>>());

    static MasterKey Key(string base64) => new(Convert.FromBase64String(base64));

    /// <summary>What the intake does with a key: protect it (making the ring's first key) and return the stored payload.</summary>
    static string Protect(string database, string masterKey)
    {
        using var intake = Services(database, masterKey, readOnly: false);
        return intake.GetRequiredService<ProviderKeyProtector>().Protect(UserId, ApiKey);
    }

    static ServiceProvider Services(string database, string masterKey, bool readOnly) =>
        new ServiceCollection()
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddPlatformData(database)
            .AddPlatformSecrets(o => o.MasterKey = masterKey, readOnly)
            .BuildServiceProvider();

    static async Task<List<string>> Rows(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
            rows.Add(reader.GetString(0));
        return rows;
    }
}
