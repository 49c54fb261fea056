#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A body larger than this is not relayed. */
#define BODY_MAX (8u << 20)

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct fwd_response *res = arg;
	size_t len = size * n;
	char *p;

	if (res->body_len + len + 1 > BODY_MAX)
		return 0;
	p = realloc(res->body, res->body_len + len + 1);
	if (!p)
		return 0;
	memcpy(p + res->body_len, data, len);
	res->body = p;
	res->body_len += len;
	p[res->body_len] = '\0';
	return len;
}

static void set_method(CURL *easy, const struct fwd_request *req)
{
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
		return;
	}
	/* POST, PUT, DELETE, …: send whatever body came, even an empty one. */
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	if (strcmp(req->method, "POST") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
}

int fwd_perform(const char *upstream, const struct fwd_request *req, struct fwd_response *res)
{
	char *url = NULL;
	char *type = NULL;
	CURL *easy;

	memset(res, 0, sizeof(*res));
	res->result = CURLE_OUT_OF_MEMORY;
	if (req->target[0] != '/') {
		res->result = CURLE_URL_MALFORMAT;
		snprintf(res->error, sizeof(res->error), "target must start with '/'");
		return -1;
	}
	easy = curl_easy_init();
	if (!easy || asprintf(&url, "%s%s", upstream, req->target) < 0) {
		curl_easy_cleanup(easy);
		return -1;
	}
	res->easy = easy;
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, res->error);
	/* Threads of a server: no SIGALRM for timeouts. */
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, res);
	set_method(easy, req);

	res->result = curl_easy_perform(easy);
	free(url);
	if (res->result != CURLE_OK) {
		if (!res->error[0])
			snprintf(res->error, sizeof(res->error), "%s",
				 curl_easy_strerror(res->result));
		return -1;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res->status);
	if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
		res->content_type = strdup(type);
	if (!res->body) {
		res->body = calloc(1, 1);
		if (!res->body) {
			res->result = CURLE_OUT_OF_MEMORY;
			return -1;
		}
	}
	return 0;
}

void fwd_response_free(struct fwd_response *res)
{
	if (res->easy)
		curl_easy_cleanup(res->easy);
	free(res->content_type);
	free(res->body);
	memset(res, 0, sizeof(*res));
}
