/* http.c - JSON responses and small connection helpers for both listeners.
 *
 * Responses that carry the bundle are built over guarded memory and wiped on release. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "api.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result error_retry(struct MHD_Connection *c, unsigned status,
				   enum api_reason reason, int64_t retry_after_s, const char *msg)
{
	char retry[24];
	char *text = NULL;
	json_t *j =
	    json_pack("{s:s, s:s}", API_F_ERROR, msg, API_F_REASON, api_reason_name(reason));
	text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	secret_json_free(text);
	if (!r)
		return MHD_NO;
	snprintf(retry, sizeof(retry), "%lld", (long long)retry_after_s);
	MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	return queue(c, status, r);
}

enum MHD_Result http_error_retry(struct MHD_Connection *c, int64_t retry_after_s, const char *fmt,
				 ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_retry(c, MHD_HTTP_TOO_MANY_REQUESTS, API_R_TOO_MANY_ATTEMPTS, retry_after_s,
			   msg);
}

enum MHD_Result http_error_retry_status(struct MHD_Connection *c, unsigned status,
					enum api_reason reason, int64_t retry_after_s,
					const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_retry(c, status, reason, retry_after_s, msg);
}

enum MHD_Result http_metrics(struct daemon_ctx *ctx, struct MHD_Connection *c)
{
	struct store_view v;
	store_view(&ctx->store, &v);
	char *text = metrics_render(&ctx->metrics, &v);
	store_view_done(&v);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_pem(struct MHD_Connection *c, struct secret *pem)
{
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
	    pem->len, pem->data, secret_free_cb, pem);
	if (!r) {
		secret_free(pem);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-pem-file");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_buffer(struct MHD_Connection *c, unsigned status, size_t len, void *data,
			    MHD_ContentReaderFreeCallback free_cb, void *cls)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer_with_free_callback_cls(len, data, free_cb, cls);
	if (!r) {
		free_cb(cls);
		return MHD_NO;
	}
	return queue(c, status, r);
}

enum MHD_Result http_secret(struct MHD_Connection *c, unsigned status, struct secret *body)
{
	return http_buffer(c, status, body->len, body->data, secret_free_cb, body);
}

enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_INDENT(2)) : NULL;
	json_decref(body);
	if (!text)
		return MHD_NO;
	struct secret *s = secret_new(strlen(text) + 1);
	if (s && (secret_append(s, text, strlen(text)) < 0 || secret_append(s, "\n", 1) < 0))
		s = secret_free(s);
	secret_json_free(text);
	if (!s)
		return MHD_NO;
	return http_secret(c, status, s);
}

enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, enum api_reason reason,
			   const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return http_json(
	    c, status,
	    json_pack("{s:s, s:s}", API_F_ERROR, msg, API_F_REASON, api_reason_name(reason)));
}

void http_mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	log_msg(LOG_DEBUG, "libmicrohttpd: %s", line);
}
