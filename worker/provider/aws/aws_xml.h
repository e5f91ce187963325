/* aws_xml — a small, bounded reader for the XML that AWS query and REST
 * APIs answer with.  Not a general XML parser: no DTDs, no namespaces
 * (prefixes are compared as part of the name), CDATA and comments skipped.
 * It finds elements by name inside a span of text and decodes the five
 * predefined entities and numeric character references of their text.
 *
 * A span is a borrowed [p, end) range of the response; nothing is copied
 * until aws_xml_text().  Nesting deeper than AWS_XML_MAX_DEPTH, an
 * unterminated tag or a missing close tag ends the search (not found). */
#ifndef WM_AWS_XML_H
#define WM_AWS_XML_H

#include <stdbool.h>
#include <stddef.h>

#define AWS_XML_MAX_DEPTH 48

struct aws_xml {
    const char *p, *end;
};

static inline struct aws_xml aws_xml_span(const char *text, size_t len)
{
    struct aws_xml x = {text, text + len};
    return x;
}

/* The first element named tag anywhere inside span (depth first): its inner
 * content in *out.  true if found. */
bool aws_xml_find(struct aws_xml span, const char *tag, struct aws_xml *out);

/* Iterates the direct children of span named tag (e.g. the <item>s of an
 * instancesSet): start with *cursor = span.p; each call gives the next one. */
bool aws_xml_next(struct aws_xml span, const char **cursor, const char *tag, struct aws_xml *out);

/* Text of the first element named tag inside span, entity-decoded, into out.
 * 0, -ENOENT (no such element), -ENOSPC (truncated; out still terminated). */
int aws_xml_text(struct aws_xml span, const char *tag, char *out, size_t outlen);

/* The decoded text of span itself. */
int aws_xml_span_text(struct aws_xml span, char *out, size_t outlen);

#endif
