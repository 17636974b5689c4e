using System.Text;

namespace Platform.Cli.Input;

/// <summary>RFC 4180 CSV: commas, double-quoted fields (with <c>""</c> for a quote, and line breaks inside), CRLF or LF.</summary>
public static class Csv
{
    /// <summary>The records of <paramref name="text"/> with the line each starts on; blank lines are skipped, a leading BOM is ignored.</summary>
    public static IEnumerable<(int Line, List<string> Fields)> Read(string text)
    {
        var position = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        var line = 1;
        while (position < text.Length)
        {
            var start = line;
            var fields = new List<string>();
            var field = new StringBuilder();
            var quoted = false;
            var wasQuoted = false;
            var ended = false;
            while (position < text.Length && !ended)
            {
                var c = text[position++];
                if (quoted)
                {
                    if (c == '"')
                    {
                        if (position < text.Length && text[position] == '"')
                        {
                            field.Append('"');
                            position++;
                        }
                        else
                        {
                            quoted = false;
                        }
                    }
                    else
                    {
                        if (c == '\n')
                            line++;
                        field.Append(c);
                    }

                    continue;
                }

                switch (c)
                {
                    case '"' when field.Length == 0 && !wasQuoted:
                        quoted = wasQuoted = true;
                        break;
                    case '"':
                        throw new FormatException($"line {line}: a quote inside an unquoted field; quote the whole field and double the quote (\"\")");
                    case ',':
                        fields.Add(field.ToString());
                        field.Clear();
                        wasQuoted = false;
                        break;
                    case '\r' when position < text.Length && text[position] == '\n':
                        break;
                    case '\r' or '\n':
                        line++;
                        ended = true;
                        break;
                    default:
                        if (wasQuoted)
                            throw new FormatException($"line {line}: text after a closing quote; a quoted field ends at its comma");
                        field.Append(c);
                        break;
                }
            }

            if (quoted)
                throw new FormatException($"line {start}: a quoted field is never closed");
            fields.Add(field.ToString());
            if (fields.Count == 1 && fields[0].Length == 0 && !wasQuoted)
                continue;
            yield return (start, fields);
        }
    }
}
