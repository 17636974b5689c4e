namespace Platform.Secrets.Tests;

/// <summary>
/// Just enough of the protobuf wire format to count what an OTLP export holds (spans, their attributes) without the
/// generated OTLP types: the secret scan reads the raw bytes, and the counts say how much it read.
/// </summary>
public static class Protobuf
{
    /// <summary>The payloads of every length-delimited occurrence of <paramref name="field"/> in one message.</summary>
    public static IEnumerable<ReadOnlyMemory<byte>> Fields(ReadOnlyMemory<byte> message, int field)
    {
        var position = 0;
        while (position < message.Length)
        {
            var tag = Varint(message.Span, ref position);
            var wireType = (int)(tag & 7);
            var number = (int)(tag >> 3);
            switch (wireType)
            {
                case 0:
                    Varint(message.Span, ref position);
                    break;
                case 1:
                    position += 8;
                    break;
                case 5:
                    position += 4;
                    break;
                case 2:
                    var length = (int)Varint(message.Span, ref position);
                    if (number == field)
                        yield return message.Slice(position, length);
                    position += length;
                    break;
                default:
                    throw new FormatException($"unexpected protobuf wire type {wireType} at byte {position}");
            }
        }
    }

    static ulong Varint(ReadOnlySpan<byte> bytes, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
                return value;
        }
    }

    /// <summary>
    /// The spans of an OTLP ExportTraceServiceRequest (resource_spans = 1 → scope_spans = 2 → spans = 2), each with its
    /// attribute count (attributes = 9).
    /// </summary>
    public static IEnumerable<int> SpanAttributeCounts(byte[] export) =>
        from resource in Fields(export, 1)
        from scope in Fields(resource, 2)
        from span in Fields(scope, 2)
        select Fields(span, 9).Count();
}
