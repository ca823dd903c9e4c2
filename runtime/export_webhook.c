/*
 * The webhook exporter: each batch one POST of a JSON array of events, with libcurl on the
 * exporter's own thread. Any 2xx is success; anything else (or no answer within timeoutMs) is a
 * failure the shared code retries with backoff.
 */
#include "export-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "runtime.h"

struct webhook {
	char *url;
	struct curl_slist *headers;
	long timeout_ms;
	CURL *curl;
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return size * nmemb;
}

static void wh_free(struct webhook *wh)
{
	if (wh->curl)
		curl_easy_cleanup(wh->curl);
	curl_slist_free_all(wh->headers);
	free(wh->url);
	free(wh);
}

static int add_header(struct webhook *wh, const char *name, const char *value)
{
	_cleanup_free_ char *line = NULL;
	struct curl_slist *l;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	l = curl_slist_append(wh->headers, line);
	if (!l)
		return -ENOMEM;
	wh->headers = l;
	return 0;
}

static int parse_headers(struct webhook *wh, const cJSON *headers, const char *field,
			 struct rb_error *err)
{
	const cJSON *it;

	if (!headers || cJSON_IsNull(headers))
		return 0;
	if (!cJSON_IsObject(headers))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.headers must be an object of strings", field);
	cJSON_ArrayForEach(it, headers)
	{
		const char *name = it->string;

		if (!cJSON_IsString(it) || !*name || strpbrk(name, ": \t\r\n") ||
		    strpbrk(it->valuestring, "\r\n"))
			return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
					    "%s.headers.%s must be a header name with a one-line "
					    "string value",
					    field, name);
		if (add_header(wh, name, it->valuestring) < 0)
			return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	}
	return 0;
}

static int wh_open(struct rb_rt_exporter *x, const cJSON *config, const char *field,
		   struct rb_error *err)
{
	const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(config, "url"));
	struct webhook *wh;
	int r;

	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strpbrk(url, " \t\r\n"))
		return rb_error_set(err, EINVAL, RB_INVALID_CONFIG,
				    "%s.url is required: an http:// or https:// URL", field);
	wh = calloc(1, sizeof(*wh));
	if (!wh)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	wh->timeout_ms = 5000;
	wh->url = strdup(url);
	r = rb_rt_export_get_long(config, "timeoutMs", field, 1, 600000, &wh->timeout_ms, err);
	if (r == 0)
		r = parse_headers(wh, cJSON_GetObjectItemCaseSensitive(config, "headers"), field,
				  err);
	if (r == 0 && (!wh->url || add_header(wh, "Content-Type", "application/json") < 0 ||
		       add_header(wh, "User-Agent", "runbox/" RB_VERSION) < 0 ||
		       add_header(wh, "Expect", "") < 0 || !(wh->curl = curl_easy_init())))
		r = rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "setting up %s.url", field);
	if (r < 0) {
		wh_free(wh);
		return r;
	}
	x->priv = wh;
	return 0;
}

static int wh_send(struct rb_rt_exporter *x, struct rb_rt_ev_text *const *batch, size_t n,
		   struct rb_error *err)
{
	struct webhook *wh = x->priv;
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	long status = 0, timeout = wh->timeout_ms;
	long long stop_by;
	CURLcode rc;

	pthread_mutex_lock(&x->lock);
	stop_by = x->stopping ? x->stop_by_ms : 0;
	pthread_mutex_unlock(&x->lock);

	body = rb_rt_export_join(batch, n, "[", ",", "]", &len);
	if (!body)
		return rb_error_set(err, ENOMEM, RB_INTERNAL_ERROR, "out of memory");
	curl_easy_reset(wh->curl);
	curl_easy_setopt(wh->curl, CURLOPT_URL, wh->url);
	curl_easy_setopt(wh->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(wh->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(wh->curl, CURLOPT_HTTPHEADER, wh->headers);
	/* a stopping daemon waits for no receiver past its flush time */
	if (stop_by > 0) {
		long long left = stop_by - rb_rt_export_now_ms();

		timeout = left < 1 ? 1 : left < timeout ? (long)left : timeout;
	}
	curl_easy_setopt(wh->curl, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(wh->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout < 3000 ? timeout : 3000L);
	curl_easy_setopt(wh->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(wh->curl, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(wh->curl);
	if (rc != CURLE_OK)
		return rb_error_set(err, EIO, RB_NETWORK_ERROR, "POST %s: %s", wh->url,
				    curl_easy_strerror(rc));
	curl_easy_getinfo(wh->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300)
		return rb_error_set(err, EIO, RB_NETWORK_ERROR, "POST %s: HTTP %ld", wh->url,
				    status);
	return 0;
}

static void wh_close(struct rb_rt_exporter *x)
{
	if (x->priv)
		wh_free(x->priv);
	x->priv = NULL;
}

static const char *const wh_keys[] = {"url", "headers", "timeoutMs", NULL};

const struct rb_rt_exporter_ops rb_rt_export_webhook = {
    .provider = "webhook",
    .keys = wh_keys,
    .default_batch = 100,
    .default_flush_ms = 1000,
    .open = wh_open,
    .send = wh_send,
    .close = wh_close,
};
