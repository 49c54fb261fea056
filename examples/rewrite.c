#include "rewrite.h"
#include "server.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PARAM "resource_metadata"

/* Index just past the quoted-string that starts at v[i] == '"'. */
static size_t skip_quoted(const char *v, size_t i)
{
	for (i++; v[i] && v[i] != '"'; i++)
		if (v[i] == '\\' && v[i + 1])
			i++;
	return v[i] ? i + 1 : i;
}

/* When an auth-param named PARAM starts at v[i], returns where its value
 * starts (after "=" and optional whitespace), else 0. */
static size_t param_value_at(const char *v, size_t i)
{
	size_t n = strlen(PARAM);

	if (i > 0 && v[i - 1] != ' ' && v[i - 1] != '\t' && v[i - 1] != ',')
		return 0;
	if (strncasecmp(v + i, PARAM, n) != 0)
		return 0;
	i += n;
	i += strspn(v + i, " \t");
	if (v[i] != '=')
		return 0;
	i++;
	return i + strspn(v + i, " \t");
}

static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

char *rewrite_challenge(const char *value, const char *url)
{
	size_t i = 0, at, end;
	char *out = NULL;
	size_t len;
	FILE *f;

	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	while (value[i]) {
		/* Quoted strings are copied whole: a "resource_metadata=" in
		 * there is text, not a parameter. */
		if (value[i] == '"') {
			end = skip_quoted(value, i);
			fwrite(value + i, 1, end - i, f);
			i = end;
			continue;
		}
		at = param_value_at(value, i);
		if (!at) {
			fputc(value[i++], f);
			continue;
		}
		fwrite(value + i, 1, at - i, f);
		if (value[at] == '"')
			end = skip_quoted(value, at);
		else
			end = at + strcspn(value + at, ", \t");
		put_quoted(f, url);
		i = end;
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int rewrite_challenges(struct MHD_Response *r, CURL *easy, const char *self)
{
	struct curl_header *h;
	char url[256];
	size_t i, n = 0;
	char *v;
	int ok;

	snprintf(url, sizeof(url), "%s" PRM_PATH, self);
	/* request -1: the last response of the transfer, the one relayed. */
	if (curl_easy_header(easy, "WWW-Authenticate", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		n = h->amount;
	for (i = 0; i < n; i++) {
		if (curl_easy_header(easy, "WWW-Authenticate", i, CURLH_HEADER, -1, &h) != CURLHE_OK)
			return -1;
		v = rewrite_challenge(h->value, url);
		ok = v && MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, v) == MHD_YES;
		free(v);
		if (!ok)
			return -1;
	}
	if (n && MHD_add_response_header(r, MHD_HTTP_HEADER_ACCESS_CONTROL_EXPOSE_HEADERS,
					 "WWW-Authenticate") != MHD_YES)
		return -1;
	return 0;
}

int rewrite_metadata(struct fwd_response *res, const char *path, const char *self)
{
	json_t *doc;
	char *body;

	/* An empty body is a HEAD's: nothing to rewrite. */
	if (strcmp(path, PRM_PATH) != 0 || res->status != 200 || res->body_len == 0)
		return 0;
	doc = json_loadb(res->body, res->body_len, 0, NULL);
	if (!json_is_object(doc) || json_object_set_new(doc, "resource", json_string(self)) != 0) {
		json_decref(doc);
		return -1;
	}
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (!body)
		return -1;
	/* jansson allocates with malloc() unless told otherwise. */
	free(res->body);
	res->body = body;
	res->body_len = strlen(body);
	return 0;
}
