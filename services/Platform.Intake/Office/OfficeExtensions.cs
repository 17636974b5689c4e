namespace Platform.Intake.Office;

/// <summary>
/// The office: the static page in wwwroot served at <c>/</c> (docs/office.md). Plain files, no build step; everything it
/// loads comes from the intake itself, and the policy below makes the browser refuse anything else.
/// </summary>
public static class OfficeExtensions
{
    const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

    public static IApplicationBuilder UseOffice(this IApplicationBuilder app)
    {
        app.UseDefaultFiles();
        return app.UseStaticFiles(new StaticFileOptions
        {
            OnPrepareResponse = context =>
            {
                var headers = context.Context.Response.Headers;
                headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                // Small files, changed with each release: revalidate rather than run yesterday's script against today's API.
                headers.CacheControl = "no-cache";
            },
        });
    }
}
