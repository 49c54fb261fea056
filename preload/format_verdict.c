/* Verdict and summary records, and the log's own (lost, exit), in JSON and
 * text.  Pure formatting. */
#include "format.h"

#include <stdint.h>
#include <string.h>

#include "escape.h"
#include "verdict_types.h"

static void json_cstr(struct buf *b, const char *s)
{
	if (!s) {
		buf_puts(b, "null");
		return;
	}
	size_t n = strlen(s);
	escape_json(b, s, n, !escape_utf8_valid((const unsigned char *)s, n));
}

static void json_head(struct buf *b, const char *type, const struct log_meta *m)
{
	buf_printf(b, "{\"v\":1,\"type\":\"%s\",\"ts\":", type);
	format_json_ts(b, &m->ts);
	buf_printf(b, ",\"pid\":%ld,\"tid\":%ld", m->pid, m->tid);
}

static bool not_utf8(const char *s)
{
	return s && !escape_utf8_valid((const unsigned char *)s, strlen(s));
}

/* A string of a verdict, cut to cap (0: none) as header values are. */
static void json_vstr(struct buf *b, const char *s, bool latin1, size_t cap, bool *cut)
{
	if (!s) {
		buf_puts(b, "null");
		return;
	}
	size_t len = strlen(s), n = escape_cut_len((const unsigned char *)s, len, cap, latin1);
	*cut |= n < len;
	escape_json(b, s, n, latin1);
}

/* The same encoding rule as response records: an object whose strings are
 * not all UTF-8 has every one of them written as Latin-1, and says
 * "encoding":"latin1". */
void format_verdict_json(struct buf *b, const struct verdict *v, const struct log_meta *m)
{
	size_t cap = m->value_cap;
	bool cut = m->truncated;

	json_head(b, "verdict", m);
	buf_printf(b, ",\"verdict\":\"%s\",\"handle\":\"0x%jx\"", verdict_name(v->kind),
	           (uintmax_t)(uintptr_t)v->handle);
	escape_json_field(b, "method", v->method);
	escape_json_field(b, "url", v->url);
	buf_printf(b, ",\"upstream_status\":%ld,\"downstream_status\":", v->upstream_status);
	if (v->kind == VERDICT_UNPAIRED) {
		if (v->answered_status)
			buf_printf(b, "%ld", v->answered_status);
		else
			buf_puts(b, "null");
		buf_puts(b, ",\"why\":");
		json_cstr(b, v->unpaired_why);
	} else if (v->kind == VERDICT_AMBIGUOUS) {
		buf_printf(b, "null,\"candidates\":%lu", v->candidates);
	} else {
		buf_printf(b, "%ld", v->downstream_status);
		if (v->carried)
			buf_puts(b, ",\"carried\":\"body\"");
	}
	buf_puts(b, ",\"challenges\":[");
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct verdict_header *h = &v->headers[i];
		bool latin1 = not_utf8(h->name) || not_utf8(h->upstream) || not_utf8(h->downstream);
		if (i)
			buf_putc(b, ',');
		buf_puts(b, "{\"name\":");
		json_vstr(b, h->name, latin1, 0, &cut);
		buf_printf(b, ",\"result\":\"%s\",\"upstream\":", verdict_name(h->result));
		json_vstr(b, h->upstream, latin1, cap, &cut);
		buf_puts(b, ",\"downstream\":");
		json_vstr(b, h->downstream, latin1, cap, &cut);
		if (latin1)
			buf_puts(b, ",\"encoding\":\"latin1\"");
		if (h->nchanges) {
			buf_puts(b, ",\"changes\":[");
			for (size_t k = 0; k < h->nchanges; k++) {
				const struct verdict_change *c = &h->changes[k];
				bool l1 = not_utf8(c->scheme) || not_utf8(c->param) ||
				          not_utf8(c->upstream) || not_utf8(c->downstream);
				buf_puts(b, k ? ",{\"scheme\":" : "{\"scheme\":");
				json_vstr(b, c->scheme, l1, 0, &cut);
				buf_puts(b, ",\"param\":");
				json_vstr(b, c->param, l1, 0, &cut);
				buf_puts(b, ",\"upstream\":");
				json_vstr(b, c->upstream, l1, cap, &cut);
				buf_puts(b, ",\"downstream\":");
				json_vstr(b, c->downstream, l1, cap, &cut);
				if (l1)
					buf_puts(b, ",\"encoding\":\"latin1\"");
				buf_putc(b, '}');
			}
			buf_putc(b, ']');
		}
		buf_putc(b, '}');
	}
	buf_puts(b, cut ? "],\"flags\":[\"truncated\"]}\n" : "]}\n");
}

static void text_cstr(struct buf *b, const char *s)
{
	escape_text(b, s, strlen(s));
}

static void text_cut(struct buf *b, const char *s, size_t cap, bool *cut)
{
	size_t len = strlen(s), n = escape_cut_len((const unsigned char *)s, len, cap, not_utf8(s));
	*cut |= n < len;
	escape_text(b, s, n);
}

static void text_quoted(struct buf *b, const char *s, size_t cap, bool *cut)
{
	if (!s) {
		buf_puts(b, "(none)");
		return;
	}
	size_t len = strlen(s), n = escape_cut_len((const unsigned char *)s, len, cap, not_utf8(s));
	*cut |= n < len;
	escape_text_value(b, s, n);
}

void format_verdict_text(struct buf *b, const struct verdict *v, const struct log_meta *m)
{
	bool cut = m->truncated;

	buf_printf(b, "authtap[%ld] verdict %s: upstream %ld ", m->pid, verdict_name(v->kind),
	           v->upstream_status);
	text_cstr(b, v->method ? v->method : "-");
	buf_putc(b, ' ');
	text_cstr(b, v->url ? v->url : "-");
	if (v->kind == VERDICT_UNPAIRED && v->answered_status) {
		buf_printf(b, " -> client %ld before the transfer started (", v->answered_status);
		text_cstr(b, v->unpaired_why ? v->unpaired_why : "");
		buf_putc(b, ')');
	} else if (v->kind == VERDICT_UNPAIRED) {
		buf_puts(b, " -> no response to the client (");
		text_cstr(b, v->unpaired_why ? v->unpaired_why : "");
		buf_putc(b, ')');
	} else if (v->kind == VERDICT_AMBIGUOUS) {
		buf_printf(b, " -> one of %lu clients, which one is not known", v->candidates);
	} else {
		buf_printf(b, " -> client %ld", v->downstream_status);
		if (v->carried)
			buf_puts(b, " (challenge carried in the body)");
	}
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct verdict_header *h = &v->headers[i];
		buf_puts(b, "; ");
		text_cstr(b, h->name);
		buf_printf(b, " %s", verdict_name(h->result));
		if (h->result == VERDICT_DROPPED) {
			buf_puts(b, " (upstream sent: ");
			text_cut(b, h->upstream, m->value_cap, &cut);
			buf_putc(b, ')');
		}
		for (size_t k = 0; k < h->nchanges; k++) {
			const struct verdict_change *c = &h->changes[k];
			buf_puts(b, k ? ", " : ": ");
			text_cstr(b, c->scheme);
			if (c->param) {
				buf_putc(b, ' ');
				text_cstr(b, c->param);
			}
			buf_putc(b, ' ');
			text_quoted(b, c->upstream, m->value_cap, &cut);
			buf_puts(b, " -> ");
			text_quoted(b, c->downstream, m->value_cap, &cut);
		}
	}
	if (cut)
		buf_puts(b, " [truncated]");
	buf_putc(b, '\n');
}

void format_summary_json(struct buf *b, const struct verdict_summary *s, const struct log_meta *m)
{
	json_head(b, "summary", m);
	buf_printf(b,
	           ",\"challenges\":%lu,\"forwarded\":%lu,\"dropped\":%lu,\"altered\":%lu,"
	           "\"converted\":%lu,\"unpaired\":%lu,\"ambiguous\":%lu}\n",
	           s->challenges, s->forwarded, s->dropped, s->altered, s->converted, s->unpaired,
	           s->ambiguous);
}

void format_summary_text(struct buf *b, const struct verdict_summary *s, const struct log_meta *m)
{
	buf_printf(
	    b,
	    "authtap[%ld] summary: %lu challenges from upstream: %lu forwarded, %lu dropped, "
	    "%lu altered, %lu converted, %lu unpaired, %lu ambiguous\n",
	    m->pid, s->challenges, s->forwarded, s->dropped, s->altered, s->converted, s->unpaired,
	    s->ambiguous);
}

void format_lost_json(struct buf *b, unsigned long count, unsigned long total,
                      const struct log_meta *m)
{
	json_head(b, "lost", m);
	buf_printf(b, ",\"count\":%lu,\"lost\":%lu}\n", count, total);
}

void format_lost_text(struct buf *b, unsigned long count, unsigned long total,
                      const struct log_meta *m)
{
	buf_printf(b,
	           "authtap[%ld] %lu record%s lost: the log could not take %s whole (lost=%lu)\n",
	           m->pid, count, count == 1 ? "" : "s", count == 1 ? "it" : "them", total);
}

void format_exit_json(struct buf *b, const struct format_exit *e, const struct log_meta *m)
{
	json_head(b, "exit", m);
	buf_printf(b, ",\"records\":%lu,\"lost\":%lu,\"log\":", e->records, e->lost);
	if (e->log)
		escape_json(b, e->log, strlen(e->log),
		            !escape_utf8_valid((const unsigned char *)e->log, strlen(e->log)));
	else
		buf_puts(b, "\"stderr\"");
	buf_puts(b, "}\n");
}

void format_exit_text(struct buf *b, const struct format_exit *e, const struct log_meta *m)
{
	buf_printf(b, "authtap[%ld] exit: %lu response%s asking for authentication", m->pid,
	           e->records, e->records == 1 ? "" : "s");
	if (e->log) {
		buf_puts(b, ", log ");
		escape_text(b, e->log, strlen(e->log));
	}
	if (e->lost)
		buf_printf(b, ", %lu record%s lost", e->lost, e->lost == 1 ? "" : "s");
	buf_putc(b, '\n');
}
