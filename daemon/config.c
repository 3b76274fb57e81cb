#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "custody/auth.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/tamper.h"
#include "custody/text.h"

enum section { SEC_NONE, SEC_STORE, SEC_DAEMON, SEC_HTTPS, SEC_WEB, SEC_CAMERA, SEC_NOTIFY };

struct parser {
	struct cd_config *c;
	const char *dir;
	int line;
	enum section sec;
	struct cd_camera *cam;
	void *nsec;                       /* the notify_conf.c section being read */
	char seen[64][40];                /* keys seen in this section */
	size_t nseen;
	char *err;
	size_t errlen;
};

static int
perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
perr(struct parser *p, const char *fmt, ...)
{
	int n = snprintf(p->err, p->errlen, "line %d: ", p->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen) /* a message: cut, deliberately */
		cu_vfmt_cut(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* "5s", "250ms", "10m", "2h", "30d" -> µs (1 ms .. 100 years): cu_parse_duration. */
static int
parse_duration(struct parser *p, const char *key, const char *v, int64_t *ret)
{
	if (cu_parse_duration(v, key, ret) < 0)
		return perr(p, "%s", cu_error_detail());
	return 0;
}

/* "500MB", "2TB", "10GiB", "123" (bytes) -> bytes. */
static int
parse_size(struct parser *p, const char *key, const char *v, uint64_t *ret)
{
	size_t nd = strspn(v, "0123456789");
	char digits[24];
	uint64_t n;
	if (nd == 0 || nd >= sizeof(digits))
		return perr(p, "%s: \"%s\" is not a size (examples: 500MB, 2TB, 10GiB)", key, v);
	memcpy(digits, v, nd);
	digits[nd] = '\0';
	if (cu_parse_u64(digits, UINT32_MAX, key, &n) < 0)
		return perr(p, "%s: \"%s\" is too large", key, v);
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{"", 1}, {"B", 1}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
		{"TB", 1000000000000}, {"KiB", 1024}, {"MiB", 1048576}, {"GiB", 1073741824},
		{"TiB", 1099511627776},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(v + nd, units[i].unit) == 0) {
			if (n == 0)
				return perr(p, "%s: must be more than 0", key);
			if (n > UINT64_MAX / units[i].mult)
				return perr(p, "%s: \"%s\" is too large", key, v);
			*ret = n * units[i].mult;
			return 0;
		}
	}
	return perr(p, "%s: \"%s\": unknown unit (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", key, v);
}

static int
parse_bool(struct parser *p, const char *key, const char *v, bool *ret)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0) {
		*ret = false;
		return 0;
	}
	return perr(p, "%s: \"%s\": expected yes or no", key, v);
}

int
cd_config_path(const char *dir, const char *key, const char *v, char *out, size_t len,
               char *why, size_t whylen)
{
	int n;
	if (v[0] == '\0') {
		cu_fmt_cut(why, whylen, "%s: empty path", key);
		return -1;
	}
	if (v[0] == '/' || dir == NULL)
		n = snprintf(out, len, "%s", v);
	else
		n = snprintf(out, len, "%s/%s", dir, v);
	if (n < 0 || (size_t)n >= len) {
		cu_fmt_cut(why, whylen, "%s: path too long", key);
		return -1;
	}
	return 0;
}

static int
parse_path(struct parser *p, const char *key, const char *v, char *out, size_t len)
{
	char why[256];
	if (cd_config_path(p->dir, key, v, out, len, why, sizeof(why)) < 0)
		return perr(p, "%s", why);
	return 0;
}

static int
parse_pin(struct parser *p, const char *v, uint8_t out[static CU_SHA256_LEN])
{
	if (strncasecmp(v, "sha256:", 7) != 0)
		return perr(p, "fingerprint: expected sha256: followed by 32 hex bytes");
	if (cu_parse_fingerprint(v + 7, out) < 0)
		return perr(p, "fingerprint: expected sha256: followed by 32 hex bytes, with or "
		            "without ':' between every two");
	return 0;
}

static int
set_https(struct parser *p, const char *key, const char *v)
{
	struct cd_https *h = &p->c->https;
	if (strcmp(key, "listen") == 0) {
		struct in6_addr a6;
		struct in_addr a4;
		if (strlen(v) >= sizeof(h->listen) ||
		    (inet_pton(AF_INET, v, &a4) != 1 && inet_pton(AF_INET6, v, &a6) != 1))
			return perr(p, "listen: \"%s\" is not an IPv4 or IPv6 address", v);
		memcpy(h->listen, v, strlen(v) + 1);
		return 0;
	}
	if (strcmp(key, "port") == 0) {
		uint64_t n;
		if (cu_parse_u64(v, 65535, key, &n) < 0)
			return perr(p, "port: \"%s\" is not a port number (0-65535; 0 = any free port)",
			            v);
		h->port = (int)n;
		return 0;
	}
	if (strcmp(key, "cert_file") == 0)
		return parse_path(p, key, v, h->cert_file, sizeof(h->cert_file));
	if (strcmp(key, "key_file") == 0)
		return parse_path(p, key, v, h->key_file, sizeof(h->key_file));
	if (strcmp(key, "audit_views") == 0)
		return parse_bool(p, key, v, &h->audit_views);
	if (strcmp(key, "player") == 0)
		return parse_path(p, key, v, h->player, sizeof(h->player));
	if (strcmp(key, "token_lifetime") == 0) {
		if (parse_duration(p, key, v, &h->token_lifetime_us) < 0)
			return -1;
		if (h->token_lifetime_us < CD_TOKEN_LIFETIME_MIN_US ||
		    h->token_lifetime_us > CD_TOKEN_LIFETIME_MAX_US)
			return perr(p, "token_lifetime: \"%s\" is out of range: from 60s to 1h", v);
		if (h->token_lifetime_us % 1000000 != 0)
			return perr(p, "token_lifetime: \"%s\" is not a whole number of seconds", v);
		return 0;
	}
	if (strcmp(key, "names") == 0) {
		char copy[CD_LINE_MAX];
		int k = snprintf(copy, sizeof(copy), "%s", v);
		if (k < 0 || (size_t)k >= sizeof(copy))
			return perr(p, "names: longer than %zu bytes", sizeof(copy) - 1);
		char *save = NULL;
		h->nnames = 0;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			t = trim(t);
			if (*t == '\0')
				continue;
			if (h->nnames == CD_HTTPS_NAMES_MAX)
				return perr(p, "names: more than %d names", CD_HTTPS_NAMES_MAX);
			if (strlen(t) >= sizeof(h->names[0]))
				return perr(p, "names: \"%.40s...\" is too long", t);
			memcpy(h->names[h->nnames++], t, strlen(t) + 1);
		}
		if (h->nnames == 0)
			return perr(p, "names: give one or more DNS names or addresses, comma-separated");
		return 0;
	}
	return perr(p, "unknown key \"%s\" in [https] (listen, port, cert_file, key_file, names, "
	            "audit_views, player, token_lifetime)", key);
}

static int
set_web(struct parser *p, const char *key, const char *v)
{
	struct cd_web *w = &p->c->web;
	if (strcmp(key, "idle_timeout") == 0) {
		if (parse_duration(p, key, v, &w->idle_timeout_us) < 0)
			return -1;
		if (w->idle_timeout_us < CD_WEB_IDLE_MIN_US || w->idle_timeout_us > CD_WEB_IDLE_MAX_US)
			return perr(p, "idle_timeout: \"%s\" is out of range: from 60s to 24h", v);
		if (w->idle_timeout_us % 1000000 != 0)
			return perr(p, "idle_timeout: \"%s\" is not a whole number of seconds", v);
		return 0;
	}
	return perr(p, "unknown key \"%s\" in [web] (idle_timeout)", key);
}

/* The [camera] keys of ONVIF events: 0 or -1 when key is one of them, 1
 * when it is not (docs/onvif-events.md). */
static int
set_camera_onvif(struct parser *p, struct cd_camera *cam, const char *key, const char *v)
{
	if (strcmp(key, "onvif") == 0) {
		if (cu_onvif_url_check(v) < 0)
			return perr(p, "onvif: %s", cu_error_detail());
		memcpy(cam->onvif, v, strlen(v) + 1);
		return 0;
	}
	if (strcmp(key, "onvif_credentials") == 0)
		return parse_path(p, key, v, cam->onvif_credentials, sizeof(cam->onvif_credentials));
	if (strcmp(key, "onvif_ca") == 0)
		return parse_path(p, key, v, cam->onvif_ca, sizeof(cam->onvif_ca));
	if (strcmp(key, "onvif_termination") == 0) {
		if (parse_duration(p, key, v, &cam->onvif_termination_us) < 0)
			return -1;
		if (cam->onvif_termination_us < CD_ONVIF_TERMINATION_MIN_US ||
		    cam->onvif_termination_us > CD_ONVIF_TERMINATION_MAX_US)
			return perr(p, "onvif_termination: between 2s and 1h");
		return 0;
	}
	return 1;
}

/* The ONVIF keys of a finished [camera] section, checked together. */
static int
end_camera_onvif(struct parser *p, struct cd_camera *cam)
{
	if (cam->onvif[0] == '\0') {
		if (cam->onvif_credentials[0] != '\0' || cam->onvif_ca[0] != '\0' ||
		    cam->onvif_termination_us != 0)
			return perr(p, "[camera %s]: onvif_credentials, onvif_ca and onvif_termination "
			            "need onvif = URL", cam->name);
		return 0;
	}
	if (cam->onvif_ca[0] != '\0' && strncasecmp(cam->onvif, "https://", 8) != 0)
		return perr(p, "[camera %s]: onvif_ca is set but the onvif URL is not https://",
		            cam->name);
	if (cam->onvif_termination_us == 0)
		cam->onvif_termination_us = CD_ONVIF_TERMINATION_DEFAULT_US;
	return 0;
}

/* The integrity watch's [daemon] keys; 1 when key is none of them. */
static int
set_watch(struct parser *p, const char *key, const char *v)
{
	struct cd_watch_config *w = &p->c->watch;
	if (strcmp(key, "verify_after_seal") == 0)
		return parse_bool(p, key, v, &w->verify_after_seal);
	if (strcmp(key, "verify_interval") != 0)
		return 1;
	if (strcmp(v, "off") == 0) {
		w->verify_interval_us = 0;
		return 0;
	}
	if (parse_duration(p, key, v, &w->verify_interval_us) < 0)
		return -1;
	if (w->verify_interval_us < CD_VERIFY_INTERVAL_MIN_US ||
	    w->verify_interval_us > CD_VERIFY_INTERVAL_MAX_US)
		return perr(p, "verify_interval: \"%s\" is out of range: from 10s to 30d, or off", v);
	return 0;
}

static void
watch_defaults(struct cd_watch_config *w)
{
	w->verify_interval_us = CD_VERIFY_INTERVAL_DEFAULT_US;
	w->verify_after_seal = true;
}

/* A duration within [min, max], refused naming the bounds. */
static int
parse_duration_in(struct parser *p, const char *key, const char *v, int64_t min, int64_t max,
                  int64_t *ret)
{
	int64_t d;
	if (parse_duration(p, key, v, &d) < 0)
		return -1;
	if (d < min || d > max)
		return perr(p, "%s: \"%s\" is out of range: from %lld ms to %lld s", key, v,
		            (long long)(min / 1000), (long long)(max / 1000000));
	*ret = d;
	return 0;
}

/* [daemon] tamper keys; 1 when key is not one of them. */
static int
set_daemon_tamper(struct parser *p, const char *key, const char *v)
{
	struct cd_tamper_conf *t = &p->c->tamper;
	if (strcmp(key, "tamper") == 0)
		return parse_bool(p, key, v, &t->on);
	if (strcmp(key, "tamper_interval") == 0)
		return parse_duration_in(p, key, v, CD_TAMPER_INTERVAL_MIN_US,
		                         CD_TAMPER_INTERVAL_MAX_US, &t->interval_us);
	if (strcmp(key, "tamper_persistence") == 0)
		return parse_duration_in(p, key, v, CD_TAMPER_PERSIST_MIN_US, CU_TAMPER_PERSIST_MAX_US,
		                         &t->persistence_us);
	if (strcmp(key, "tamper_learn") == 0)
		return parse_duration_in(p, key, v, CD_TAMPER_LEARN_MIN_US, CU_TAMPER_LEARN_MAX_US,
		                         &t->learn_us);
	return 1;
}

/* [camera] tamper = yes|no: overrides [daemon] tamper; 1 when key is not it. */
static int
set_camera_tamper(struct parser *p, const char *key, const char *v)
{
	bool on = false;
	if (strcmp(key, "tamper") != 0)
		return 1;
	if (parse_bool(p, key, v, &on) < 0)
		return -1;
	p->cam->tamper = on;
	return 0;
}

static int
set_key(struct parser *p, const char *key, const char *v)
{
	struct cd_config *c = p->c;
	switch (p->sec) {
	case SEC_NONE:
		return perr(p, "\"%s\" outside a section: start with [store]", key);
	case SEC_STORE:
		if (strcmp(key, "path") == 0)
			return parse_path(p, key, v, c->store, sizeof(c->store));
		if (strcmp(key, "password_file") == 0)
			return parse_path(p, key, v, c->password_file, sizeof(c->password_file));
		if (strcmp(key, "max_age") == 0)
			return parse_duration(p, key, v, &c->max_age_us);
		if (strcmp(key, "max_bytes") == 0)
			return parse_size(p, key, v, &c->max_bytes);
		return perr(p, "unknown key \"%s\" in [store] (path, password_file, max_age, max_bytes)",
		            key);
	case SEC_DAEMON: {
		int tr = set_daemon_tamper(p, key, v);
		if (tr <= 0)
			return tr;
		if (strcmp(key, "events") == 0)
			return parse_path(p, key, v, c->events, sizeof(c->events));
		if (strcmp(key, "offline_after") == 0)
			return parse_duration(p, key, v, &c->offline_after_us);
		if (strcmp(key, "retention_interval") == 0)
			return parse_duration(p, key, v, &c->retention_interval_us);
		if (strcmp(key, "reconnect_min") == 0)
			return parse_duration(p, key, v, &c->reconnect_min_us);
		if (strcmp(key, "reconnect_max") == 0)
			return parse_duration(p, key, v, &c->reconnect_max_us);
		int w = set_watch(p, key, v);
		if (w <= 0)
			return w;
		return perr(p, "unknown key \"%s\" in [daemon] (events, offline_after, "
		            "retention_interval, reconnect_min, reconnect_max, verify_interval, "
		            "verify_after_seal, tamper, tamper_interval, tamper_persistence, "
		            "tamper_learn)", key);
	}
	case SEC_HTTPS:
		return set_https(p, key, v);
	case SEC_WEB:
		return set_web(p, key, v);
	case SEC_NOTIFY: {
		char why[512];
		if (cd_notify_conf_key(&c->notify, p->nsec, key, v, p->dir, why, sizeof(why)) < 0)
			return perr(p, "%s", why);
		return 0;
	}
	case SEC_CAMERA: {
		struct cd_camera *cam = p->cam;
		int tr = set_camera_tamper(p, key, v);
		if (tr <= 0)
			return tr;
		if (strcmp(key, "url") == 0) {
			bool tls;
			char host[256], path[CU_RTSP_URL_MAX];
			uint16_t port;
			if (cu_rtsp_url_parse(v, &tls, host, sizeof(host), &port, path, sizeof(path)) < 0)
				return perr(p, "url: %s", cu_error_detail());
			memcpy(cam->url, v, strlen(v) + 1);
			return 0;
		}
		if (strcmp(key, "credentials_file") == 0)
			return parse_path(p, key, v, cam->credentials_file, sizeof(cam->credentials_file));
		if (strcmp(key, "ca_file") == 0)
			return parse_path(p, key, v, cam->ca_file, sizeof(cam->ca_file));
		if (strcmp(key, "fingerprint") == 0) {
			cam->have_pin = true;
			return parse_pin(p, v, cam->pin);
		}
		if (strcmp(key, "require_tls") == 0)
			return parse_bool(p, key, v, &cam->require_tls);
		if (strcmp(key, "allow_redirect") == 0)
			return parse_bool(p, key, v, &cam->allow_redirect);
		if (strcmp(key, "enabled") == 0)
			return parse_bool(p, key, v, &cam->enabled);
		if (strcmp(key, "max_age") == 0)
			return parse_duration(p, key, v, &cam->max_age_us);
		if (strcmp(key, "max_bytes") == 0)
			return parse_size(p, key, v, &cam->max_bytes);
		int r = set_camera_onvif(p, cam, key, v);
		if (r <= 0)
			return r;
		return perr(p, "unknown key \"%s\" in [camera %s] (url, credentials_file, ca_file, "
		            "fingerprint, require_tls, allow_redirect, enabled, max_age, max_bytes, "
		            "onvif, onvif_credentials, onvif_ca, onvif_termination, tamper)", key,
		            cam->name);
	}
	}
	return perr(p, "internal: no section");
}

static int
end_camera(struct parser *p)
{
	struct cd_camera *cam = p->cam;
	if (cam == NULL)
		return 0;
	int line = p->line;
	p->line = cam->line;
	int r = 0;
	if (cam->url[0] == '\0')
		r = perr(p, "[camera %s] has no url", cam->name);
	else if (strncasecmp(cam->url, "rtsps://", 8) == 0 && cam->ca_file[0] == '\0' && !cam->have_pin)
		r = perr(p, "[camera %s]: an rtsps:// camera needs ca_file or fingerprint to be trusted",
		         cam->name);
	else if (cam->require_tls && strncasecmp(cam->url, "rtsps://", 8) != 0)
		r = perr(p, "[camera %s]: require_tls is set but the url is not rtsps://", cam->name);
	else
		r = end_camera_onvif(p, cam);
	p->line = line;
	p->cam = NULL;
	return r;
}

static int
section(struct parser *p, char *s)
{
	size_t n = strlen(s);
	if (s[n - 1] != ']')
		return perr(p, "section header must end with ]");
	s[n - 1] = '\0';
	char *name = trim(s + 1);
	if (end_camera(p) < 0)
		return -1;
	p->nseen = 0;
	char why[512];
	int nr;
	if (strcmp(name, "store") == 0) {
		p->sec = SEC_STORE;
	} else if (strcmp(name, "daemon") == 0) {
		p->sec = SEC_DAEMON;
	} else if (strcmp(name, "https") == 0) {
		if (p->c->https.enabled)
			return perr(p, "[https] is given twice");
		p->sec = SEC_HTTPS;
		p->c->https.enabled = true;
	} else if (strcmp(name, "web") == 0) {
		if (p->c->web.given)
			return perr(p, "[web] is given twice");
		p->sec = SEC_WEB;
		p->c->web.given = true;
	} else if ((nr = cd_notify_conf_section(&p->c->notify, name, p->line, &p->nsec, why,
	                                       sizeof(why))) != 1) {
		if (nr < 0)
			return perr(p, "%s", why);
		p->sec = SEC_NOTIFY;
	} else if (strncmp(name, "camera", 6) == 0 && (name[6] == ' ' || name[6] == '\t')) {
		char *cn = trim(name + 6);
		if (cu_camera_name_check(cn) < 0)
			return perr(p, "[camera %s]: %s", cn, cu_error_detail());
		for (size_t i = 0; i < p->c->ncameras; i++)
			if (strcmp(p->c->cameras[i].name, cn) == 0)
				return perr(p, "camera \"%s\" is defined twice (first at line %d)", cn,
				            p->c->cameras[i].line);
		if (p->c->ncameras == CD_CAMERAS_MAX)
			return perr(p, "more than %d cameras", CD_CAMERAS_MAX);
		p->cam = &p->c->cameras[p->c->ncameras++];
		memset(p->cam, 0, sizeof(*p->cam));
		memcpy(p->cam->name, cn, strlen(cn) + 1);
		p->cam->line = p->line;
		p->cam->enabled = true;
		p->cam->tamper = -1;
		p->sec = SEC_CAMERA;
	} else {
		return perr(p, "unknown section [%s] (store, daemon, https, web, camera NAME, notify, "
		            "rule NAME, " CD_NOTIFY_KINDS_TEXT ")", name);
	}
	return 0;
}

int
cd_config_parse(const char *text, size_t len, const char *dir, struct cd_config *c, char *err,
                size_t errlen)
{
	struct parser p = {.c = c, .dir = dir, .err = err, .errlen = errlen};
	memset(c, 0, offsetof(struct cd_config, cameras));
	c->offline_after_us = 5 * INT64_C(1000000);
	_Static_assert(sizeof("127.0.0.1") <= sizeof(c->https.listen), "the default fits");
	memcpy(c->https.listen, "127.0.0.1", sizeof("127.0.0.1"));
	c->https.port = 8443;
	c->https.audit_views = true;
	c->https.token_lifetime_us = CU_TOKEN_LIFETIME_DEFAULT;
	c->web.idle_timeout_us = CD_WEB_IDLE_DEFAULT_US;
	cd_notify_conf_defaults(&c->notify);
	c->tamper = (struct cd_tamper_conf){.interval_us = CD_TAMPER_INTERVAL_DEFAULT_US,
	                                    .persistence_us = CU_TAMPER_PERSIST_DEFAULT_US,
	                                    .learn_us = CU_TAMPER_LEARN_DEFAULT_US};
	c->retention_interval_us = 60 * INT64_C(1000000);
	c->reconnect_min_us = INT64_C(1000000);
	c->reconnect_max_us = 60 * INT64_C(1000000);
	watch_defaults(&c->watch);
	if (len > CD_CONFIG_MAX)
		return perr(&p, "configuration larger than %d bytes", CD_CONFIG_MAX);
	if (memchr(text, '\0', len) != NULL)
		return perr(&p, "configuration contains a NUL byte");
	size_t off = 0;
	while (off < len) {
		p.line++;
		const char *nl = memchr(text + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (text + off)) : len - off;
		if (ll >= CD_LINE_MAX)
			return perr(&p, "line longer than %d bytes", CD_LINE_MAX - 1);
		char buf[CD_LINE_MAX];
		memcpy(buf, text + off, ll);
		buf[ll] = '\0';
		off += ll + (nl ? 1 : 0);
		for (size_t i = 0; i < ll; i++)
			if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t' && buf[i] != '\r')
				return perr(&p, "control character in the line");
		char *s = trim(buf);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (section(&p, s) < 0)
				return -1;
			continue;
		}
		char *eq = strchr(s, '=');
		if (eq == NULL)
			return perr(&p, "expected key = value, [section] or # comment");
		*eq = '\0';
		/* a '#' after white space starts a comment: "path = /x  # why" */
		for (char *h = eq + 1; *h != '\0'; h++) {
			if (*h == '#' && (h[-1] == ' ' || h[-1] == '\t')) {
				*h = '\0';
				break;
			}
		}
		char *key = trim(s), *val = trim(eq + 1);
		if (*key == '\0' || strlen(key) >= sizeof(p.seen[0]))
			return perr(&p, "missing or too long key");
		for (size_t i = 0; i < p.nseen; i++)
			if (strcmp(p.seen[i], key) == 0)
				return perr(&p, "\"%s\" is set twice in this section", key);
		if (p.nseen < sizeof(p.seen) / sizeof(p.seen[0]))
			memcpy(p.seen[p.nseen++], key, strlen(key) + 1);
		if (set_key(&p, key, val) < 0)
			return -1;
	}
	if (end_camera(&p) < 0)
		return -1;
	p.line = 0;
	if (c->store[0] == '\0')
		return perr(&p, "[store] path is required");
	if (c->password_file[0] == '\0')
		return perr(&p, "[store] password_file is required");
	if (c->reconnect_min_us > c->reconnect_max_us)
		return perr(&p, "[daemon] reconnect_min is larger than reconnect_max");
	if ((c->https.cert_file[0] == '\0') != (c->https.key_file[0] == '\0'))
		return perr(&p, "[https] cert_file and key_file go together: give both or neither");
	if (c->web.given && !c->https.enabled)
		return perr(&p, "[web] configures the browser client, which needs an [https] section");
	char why[512];
	if (cd_notify_conf_end(&c->notify, &p.line, why, sizeof(why)) < 0)
		return perr(&p, "%s", why);
	return 0;
}

int
cd_config_load(const char *path, struct cd_config *c, char *err, size_t errlen)
{
	uint8_t *text;
	size_t len;
	if (cu_file_read(path, CD_CONFIG_MAX, &text, &len) < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return -1;
	}
	char copy[PATH_MAX];
	if (cu_path(copy, sizeof(copy), "%s", path) < 0) {
		free(text);
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return -1;
	}
	int r = cd_config_parse((const char *)text, len, dirname(copy), c, err, errlen);
	free(text);
	return r;
}

int
cd_credentials_load(const char *path, char *user, size_t ulen, char *password, size_t plen,
                    char *err, size_t errlen)
{
	struct stat st;
	if (lstat(path, &st) == 0 && (st.st_mode & (S_IRWXO | S_IWGRP))) {
		cu_fmt_cut(err, errlen, "%s: readable or writable by others (mode %04o); chmod 600 it",
		           path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	uint8_t *text;
	size_t len;
	if (cu_file_read(path, 4096, &text, &len) < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return -1;
	}
	char *t = (char *)text, *nl = memchr(t, '\n', len);
	int r = -1;
	if (nl == NULL) {
		cu_fmt_cut(err, errlen, "%s: expected the user name on line 1 and the password on "
		           "line 2", path);
		goto out;
	}
	*nl = '\0';
	char *pw = nl + 1, *end = memchr(pw, '\n', len - (size_t)(pw - t));
	if (end)
		*end = '\0';
	size_t ul = strlen(t), pl = strlen(pw);
	if (ul > 0 && t[ul - 1] == '\r')
		t[--ul] = '\0';
	if (pl > 0 && pw[pl - 1] == '\r')
		pw[--pl] = '\0';
	if (ul == 0 || ul >= ulen || pl >= plen) {
		cu_fmt_cut(err, errlen, "%s: user name empty, or user name or password too long", path);
		goto out;
	}
	memcpy(user, t, ul + 1);
	memcpy(password, pw, pl + 1);
	r = 0;
out:
	cu_wipe(text, len);
	free(text);
	return r;
}
