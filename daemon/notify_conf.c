/* The notification sections of the configuration: [notify], [rule NAME] and
 * the target kinds' sections (docs/notifications.md). Pure parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "custody/error.h"
#include "custody/media.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "notify_conf.h"

enum { SEC_NOTIFY, SEC_RULE, SEC_TARGET };

static int
why(char *w, size_t wl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
why(char *w, size_t wl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(w, wl, fmt, ap); /* a message: cut, deliberately */
	va_end(ap);
	return -1;
}

/* ---- target kinds: one row each ----
 * A kind is its section's word (also the action's prefix), where its
 * entries live in struct cd_notify_conf, and three functions: init (the
 * defaults of a new entry), key (one key of its section), end (the entry
 * complete, after the file). Adding a kind is a row here, its struct in
 * notify_conf.h and a row in notify.c's tkinds[]. */

static void webhook_init(void *obj);
static int webhook_key(void *obj, const char *key, const char *v, const char *dir, char *w,
                       size_t wl);
static int webhook_end(const void *obj, char *w, size_t wl);
static void snmp_init(void *obj);
static int snmp_key(void *obj, const char *key, const char *v, const char *dir, char *w,
                    size_t wl);
static int snmp_end(const void *obj, char *w, size_t wl);
static void email_init(void *obj);
static int email_key(void *obj, const char *key, const char *v, const char *dir, char *w,
                     size_t wl);
static int email_end(const void *obj, char *w, size_t wl);

struct kind {
	const char *name;                 /* the section's word and the action's prefix */
	size_t count_off, array_off;      /* in struct cd_notify_conf: the count, the entries */
	size_t size, max;                 /* an entry's size; at most max entries */
	size_t line_off;                  /* its int line (the name is every entry's first field) */
	void (*init)(void *obj);
	int (*key)(void *obj, const char *key, const char *v, const char *dir, char *w, size_t wl);
	int (*end)(const void *obj, char *w, size_t wl);
};

#define KIND(word, count, array, type, max, pre)                                              \
	{word, offsetof(struct cd_notify_conf, count), offsetof(struct cd_notify_conf, array),     \
	 sizeof(struct type), max, offsetof(struct type, line), pre##_init, pre##_key, pre##_end}

static const struct kind kinds[] = {
	KIND("webhook", nwebhooks, webhooks, cd_webhook_conf, CD_WEBHOOKS_MAX, webhook),
	KIND("snmp", nsnmps, snmps, cd_snmp_conf, CD_SNMPS_MAX, snmp),
	KIND("email", nemails, emails, cd_email_conf, CD_EMAILS_MAX, email),
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static size_t *
kind_count(const struct kind *k, const struct cd_notify_conf *n)
{
	return (size_t *)(uintptr_t)((const char *)n + k->count_off);
}

static char *
kind_entry(const struct kind *k, const struct cd_notify_conf *n, size_t i)
{
	return (char *)(uintptr_t)((const char *)n + k->array_off + i * k->size);
}

static int
kind_line(const struct kind *k, const char *entry)
{
	int line;
	memcpy(&line, entry + k->line_off, sizeof(line));
	return line;
}

/* The entry of kind k named name, or NULL. */
static char *
kind_find(const struct kind *k, const struct cd_notify_conf *n, const char *name)
{
	for (size_t i = 0; i < *kind_count(k, n); i++)
		if (strcmp(kind_entry(k, n, i), name) == 0)
			return kind_entry(k, n, i);
	return NULL;
}

/* A new [KIND NAME] section: refused when defined twice or one too many. */
static int
kind_section(const struct kind *k, struct cd_notify_conf *n, const char *name, int line,
             void **ret, char *w, size_t wl)
{
	const char *old = kind_find(k, n, name);
	if (old != NULL)
		return why(w, wl, "%s \"%s\" is defined twice (first at line %d)", k->name, name,
		           kind_line(k, old));
	size_t *count = kind_count(k, n);
	if (*count == k->max)
		return why(w, wl, "more than %zu %s sections", k->max, k->name);
	char *e = kind_entry(k, n, (*count)++);
	memset(e, 0, k->size);
	memcpy(e, name, strlen(name) + 1);
	memcpy(e + k->line_off, &line, sizeof(line));
	k->init(e);
	*ret = e;
	return 0;
}

static int
name_check(const char *what, const char *s, char *w, size_t wl)
{
	size_t n = strlen(s);
	if (n == 0 || n > CD_NOTIFY_NAME_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return why(w, wl, "%s name \"%.40s\": 1 to %d of a-z 0-9 _ -", what, s,
		           CD_NOTIFY_NAME_MAX);
	return 0;
}

/* Splits a comma-separated list into at most max items of at most size-1
 * bytes each. */
static int
list_parse(const char *key, const char *v, char *items, size_t size, size_t max, size_t *ret_n,
           char *w, size_t wl)
{
	size_t n = 0;
	const char *p = v;
	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			return why(w, wl, "%s: an empty item in the list", key);
		if (n == max)
			return why(w, wl, "%s: more than %zu items", key, max);
		if (len >= size)
			return why(w, wl, "%s: \"%.40s...\" is longer than %zu bytes", key, p, size - 1);
		memcpy(items + n * size, p, len);
		items[n * size + len] = '\0';
		n++;
		if (e == NULL)
			break;
		p = e + 1;
		if (*p == '\0')
			return why(w, wl, "%s: the list ends with a comma", key);
	}
	if (n == 0)
		return why(w, wl, "%s: give one or more, comma-separated", key);
	*ret_n = n;
	return 0;
}

int
cd_severity_parse(const char *s)
{
	static const char *const names[] = {"info", "warning", "major", "critical"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

bool
cd_rule_type_match(const char *pattern, const char *type)
{
	size_t pl = strlen(pattern);
	if (strcmp(pattern, "*") == 0)
		return true;
	if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.')
		return strncmp(pattern, type, pl - 1) == 0;
	return strcmp(pattern, type) == 0;
}

void
cd_notify_conf_defaults(struct cd_notify_conf *n)
{
	memset(n, 0, sizeof(*n));
	memcpy(n->site, "custody", sizeof("custody"));
	n->give_up_us = CD_GIVE_UP_DEFAULT_US;
	n->keep_us = CD_KEEP_DEFAULT_US;
}

int
cd_notify_conf_section(struct cd_notify_conf *n, const char *name, int line, void **ret_sec,
                       char *w, size_t wl)
{
	*ret_sec = NULL;
	if (strcmp(name, "notify") == 0) {
		if (n->given)
			return why(w, wl, "[notify] is given twice");
		n->given = true;
		n->cur_kind = SEC_NOTIFY;
		n->cur = n;
		*ret_sec = n;
		return 0;
	}
	const char *sp = strpbrk(name, " \t");
	if (sp == NULL)
		return 1;
	char word[16];
	size_t wlen = (size_t)(sp - name);
	if (wlen >= sizeof(word))
		return 1;
	memcpy(word, name, wlen);
	word[wlen] = '\0';
	const char *nm = sp + strspn(sp, " \t");
	if (strcmp(word, "rule") == 0) {
		if (name_check("rule", nm, w, wl) < 0)
			return -1;
		for (size_t i = 0; i < n->nrules; i++)
			if (strcmp(n->rules[i].name, nm) == 0)
				return why(w, wl, "rule \"%s\" is defined twice (first at line %d)", nm,
				           n->rules[i].line);
		if (n->nrules == CD_RULES_MAX)
			return why(w, wl, "more than %d rules", CD_RULES_MAX);
		struct cd_rule *r = &n->rules[n->nrules++];
		memset(r, 0, sizeof(*r));
		memcpy(r->name, nm, strlen(nm) + 1);
		r->line = line;
		n->cur_kind = SEC_RULE;
		n->cur = r;
		*ret_sec = r;
		return 0;
	}
	for (size_t k = 0; k < NKINDS; k++) {
		if (strcmp(word, kinds[k].name) != 0)
			continue;
		if (name_check(kinds[k].name, nm, w, wl) < 0 ||
		    kind_section(&kinds[k], n, nm, line, &n->cur, w, wl) < 0)
			return -1;
		n->cur_kind = SEC_TARGET + (int)k;
		*ret_sec = n->cur;
		return 0;
	}
	return 1;
}

static int
rule_key(struct cd_rule *r, const char *key, const char *v, char *w, size_t wl)
{
	if (strcmp(key, "events") == 0) {
		if (list_parse(key, v, &r->events[0][0], sizeof(r->events[0]), CD_RULE_EVENTS_MAX,
		               &r->nevents, w, wl) < 0)
			return -1;
		for (size_t i = 0; i < r->nevents; i++) {
			const char *e = r->events[i];
			size_t l = strlen(e);
			if (strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789_.*") != l ||
			    (strchr(e, '*') && strcmp(e, "*") != 0 &&
			     (l < 3 || e[l - 1] != '*' || e[l - 2] != '.' || strchr(e, '*') != e + l - 1)))
				return why(w, wl, "events: \"%s\" is not an event type, a prefix like "
				           "tamper.* or *", e);
		}
		return 0;
	}
	if (strcmp(key, "cameras") == 0) {
		if (list_parse(key, v, &r->cameras[0][0], sizeof(r->cameras[0]), CD_RULE_CAMERAS_MAX,
		               &r->ncameras, w, wl) < 0)
			return -1;
		for (size_t i = 0; i < r->ncameras; i++) {
			const char *c = r->cameras[i];
			const char *nm = strncmp(c, "group:", 6) == 0 ? c + 6 : c;
			if (strcmp(c, "*") != 0 && cu_camera_name_check(nm) < 0)
				return why(w, wl, "cameras: \"%s\" is not a camera name, group:NAME or *", c);
		}
		return 0;
	}
	if (strcmp(key, "severity") == 0) {
		if ((r->severity = cd_severity_parse(v)) < 0)
			return why(w, wl, "severity: \"%s\": info, warning, major or critical", v);
		return 0;
	}
	if (strcmp(key, "actions") == 0) {
		if (list_parse(key, v, &r->actions[0][0], sizeof(r->actions[0]), CD_RULE_ACTIONS_MAX,
		               &r->nactions, w, wl) < 0)
			return -1;
		for (size_t i = 0; i < r->nactions; i++) {
			const char *col = strchr(r->actions[i], ':');
			bool known = false;
			for (size_t k = 0; col && k < NKINDS; k++)
				known |= strlen(kinds[k].name) == (size_t)(col - r->actions[i]) &&
				         strncmp(kinds[k].name, r->actions[i], (size_t)(col - r->actions[i])) == 0;
			if (!known)
				return why(w, wl, "actions: \"%s\": expected KIND:NAME, KIND one of: %s",
				           r->actions[i], CD_NOTIFY_KIND_NAMES);
			if (name_check("target", col + 1, w, wl) < 0)
				return -1;
		}
		return 0;
	}
	if (strcmp(key, "rate") == 0) {
		/* "10/min": N per s, min, h or d */
		const char *sl = strchr(v, '/');
		char digits[12];
		uint64_t n;
		size_t dl = sl ? (size_t)(sl - v) : 0;
		if (sl == NULL || dl == 0 || dl >= sizeof(digits))
			return why(w, wl, "rate: \"%s\": expected N/s, N/min, N/h or N/d", v);
		memcpy(digits, v, dl);
		digits[dl] = '\0';
		if (cu_parse_u64(digits, 100000, "rate", &n) < 0 || n == 0)
			return why(w, wl, "rate: \"%s\": N from 1 to 100000", v);
		static const struct {
			const char *u;
			int64_t us;
		} units[] = {{"s", 1000000}, {"min", 60000000}, {"h", 3600000000}, {"d", 86400000000}};
		for (size_t i = 0; i < 4; i++)
			if (strcmp(sl + 1, units[i].u) == 0) {
				r->rate_n = (unsigned)n;
				r->rate_us = units[i].us;
				return 0;
			}
		return why(w, wl, "rate: \"%s\": expected N/s, N/min, N/h or N/d", v);
	}
	return why(w, wl, "unknown key \"%s\" in [rule %s] (events, cameras, severity, actions, rate)",
	           key, r->name);
}

static int
notify_key(struct cd_notify_conf *n, const char *key, const char *v, char *w, size_t wl)
{
	if (strcmp(key, "site") == 0) {
		if (strlen(v) == 0 || strlen(v) > CD_SITE_MAX || cu_text_check(v, strlen(v), CD_SITE_MAX, 0) < 0)
			return why(w, wl, "site: 1 to %d bytes of printable UTF-8", CD_SITE_MAX);
		memcpy(n->site, v, strlen(v) + 1);
		return 0;
	}
	if (strcmp(key, "give_up") == 0 || strcmp(key, "keep") == 0) {
		int64_t us;
		if (cu_parse_duration(v, key, &us) < 0)
			return why(w, wl, "%s", cu_error_detail());
		if (us < 1000000)
			return why(w, wl, "%s: at least 1s", key);
		if (key[0] == 'g')
			n->give_up_us = us;
		else
			n->keep_us = us;
		return 0;
	}
	return why(w, wl, "unknown key \"%s\" in [notify] (site, give_up, keep)", key);
}

int
cd_notify_conf_key(struct cd_notify_conf *n, void *sec, const char *key, const char *v,
                   const char *dir, char *w, size_t wl)
{
	(void)sec;
	if (n->cur_kind == SEC_NOTIFY)
		return notify_key(n, key, v, w, wl);
	if (n->cur_kind == SEC_RULE)
		return rule_key(n->cur, key, v, w, wl);
	size_t k = (size_t)(n->cur_kind - SEC_TARGET);
	if (k >= NKINDS)
		return why(w, wl, "internal: no notification section");
	return kinds[k].key(n->cur, key, v, dir, w, wl);
}

int
cd_notify_conf_end(struct cd_notify_conf *n, int *ret_line, char *w, size_t wl)
{
	for (size_t k = 0; k < NKINDS; k++)
		for (size_t i = 0; i < *kind_count(&kinds[k], n); i++) {
			const char *e = kind_entry(&kinds[k], n, i);
			*ret_line = kind_line(&kinds[k], e);
			if (kinds[k].end(e, w, wl) < 0)
				return -1;
		}
	for (size_t i = 0; i < n->nrules; i++) {
		struct cd_rule *r = &n->rules[i];
		*ret_line = r->line;
		if (r->nevents == 0)
			return why(w, wl, "[rule %s] has no events", r->name);
		if (r->nactions == 0)
			return why(w, wl, "[rule %s] has no actions", r->name);
		for (size_t a = 0; a < r->nactions; a++) {
			const char *col = strchr(r->actions[a], ':');
			for (size_t k = 0; k < NKINDS; k++)
				if (strlen(kinds[k].name) == (size_t)(col - r->actions[a]) &&
				    strncmp(kinds[k].name, r->actions[a], (size_t)(col - r->actions[a])) == 0 &&
				    kind_find(&kinds[k], n, col + 1) == NULL)
					return why(w, wl, "[rule %s]: action %s: no [%s %s] section", r->name,
					           r->actions[a], kinds[k].name, col + 1);
		}
	}
	return 0;
}

/* ---- what the target kinds' keys share ---- */

/* "timeout = 10s": 100 ms to 60 s, every channel's bound for one attempt. */
static int
timeout_parse(const char *v, int64_t *ret_us, char *w, size_t wl)
{
	int64_t us = 0;
	if (cu_parse_duration(v, "timeout", &us) < 0)
		return why(w, wl, "%s", cu_error_detail());
	if (us < 100000 || us > CU_NOTIFY_TIMEOUT_MS_MAX * INT64_C(1000))
		return why(w, wl, "timeout: from 100ms to %ds", CU_NOTIFY_TIMEOUT_MS_MAX / 1000);
	*ret_us = us;
	return 0;
}

static int
timeout_ms_parse(const char *v, unsigned *ret_ms, char *w, size_t wl)
{
	int64_t us = 0;
	if (timeout_parse(v, &us, w, wl) < 0)
		return -1;
	*ret_ms = (unsigned)(us / 1000);
	return 0;
}

/* A value kept as text: 1 to size-1 bytes of printable UTF-8. */
static int
text_copy(const char *key, const char *v, char *dst, size_t size, char *w, size_t wl)
{
	size_t l = strlen(v);
	if (l == 0 || l >= size || cu_text_check(v, l, size - 1, 0) < 0)
		return why(w, wl, "%s: 1 to %zu bytes of printable text", key, size - 1);
	memcpy(dst, v, l + 1);
	return 0;
}

/* A channel's check failed: its detail (never a secret) as the reason. */
static int
channel_why(const char *section, const char *name, char *w, size_t wl)
{
	return why(w, wl, "[%s %s]: %s", section, name, cu_error_detail());
}

/* ---- [webhook NAME] ---- */

static void
webhook_init(void *obj)
{
	struct cd_webhook_conf *h = obj;
	h->sign_ed25519 = true;
	h->timeout_us = 10 * INT64_C(1000000);
}

static int
webhook_key(void *obj, const char *key, const char *v, const char *dir, char *w, size_t wl)
{
	struct cd_webhook_conf *h = obj;
	if (strcmp(key, "url") == 0) {
		size_t l = strlen(v);
		if (strncmp(v, "https://", 8) != 0 || l <= 8)
			return why(w, wl, "url: \"%.60s\": a webhook URL must be https://", v);
		if (l >= sizeof(h->url))
			return why(w, wl, "url: longer than %zu bytes", sizeof(h->url) - 1);
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
				return why(w, wl, "url: a space, control or non-ASCII character");
		size_t auth = strcspn(v + 8, "/?#");
		if (memchr(v + 8, '@', auth) != NULL)
			return why(w, wl, "url: no credentials in the URL (sign with secret_file)");
		memcpy(h->url, v, l + 1);
		return 0;
	}
	if (strcmp(key, "ca") == 0)
		return cd_config_path(dir, key, v, h->ca_file, sizeof(h->ca_file), w, wl);
	if (strcmp(key, "secret_file") == 0)
		return cd_config_path(dir, key, v, h->secret_file, sizeof(h->secret_file), w, wl);
	if (strcmp(key, "sign") == 0) {
		if (strcmp(v, "ed25519") == 0)
			h->sign_ed25519 = true;
		else if (strcmp(v, "none") == 0)
			h->sign_ed25519 = false;
		else
			return why(w, wl, "sign: \"%s\": ed25519 or none", v);
		return 0;
	}
	if (strcmp(key, "timeout") == 0)
		return timeout_parse(v, &h->timeout_us, w, wl);
	return why(w, wl, "unknown key \"%s\" in [webhook %s] (url, ca, secret_file, sign, timeout)",
	           key, h->name);
}

static int
webhook_end(const void *obj, char *w, size_t wl)
{
	const struct cd_webhook_conf *h = obj;
	if (h->url[0] == '\0')
		return why(w, wl, "[webhook %s] has no url", h->name);
	if (h->secret_file[0] == '\0' && !h->sign_ed25519)
		return why(w, wl, "[webhook %s] signs nothing: give secret_file or sign = ed25519",
		           h->name);
	return 0;
}

/* ---- [snmp NAME] ---- */

static void
snmp_init(void *obj)
{
	((struct cd_snmp_conf *)obj)->version = CU_SNMP_V2C;
}

static int
snmp_key(void *obj, const char *key, const char *v, const char *dir, char *w, size_t wl)
{
	struct cd_snmp_conf *c = obj;
	if (strcmp(key, "host") == 0)
		return text_copy(key, v, c->host, sizeof(c->host), w, wl);
	if (strcmp(key, "port") == 0) {
		uint64_t port;
		if (cu_parse_u64(v, 65535, "port", &port) < 0 || port == 0)
			return why(w, wl, "port: a number 1..65535");
		c->port = (unsigned)port;
		return 0;
	}
	if (strcmp(key, "version") == 0)
		return cu_snmp_version_parse(v, &c->version) < 0
		               ? why(w, wl, "version: \"%.20s\": 2c (trap) or 3 (inform)", v)
		               : 0;
	if (strcmp(key, "community_file") == 0)
		return cd_config_path(dir, key, v, c->community_file, sizeof(c->community_file), w, wl);
	if (strcmp(key, "user") == 0)
		return text_copy(key, v, c->user, sizeof(c->user), w, wl);
	if (strcmp(key, "auth_passphrase_file") == 0)
		return cd_config_path(dir, key, v, c->auth_file, sizeof(c->auth_file), w, wl);
	if (strcmp(key, "priv_passphrase_file") == 0)
		return cd_config_path(dir, key, v, c->priv_file, sizeof(c->priv_file), w, wl);
	if (strcmp(key, "timeout") == 0)
		return timeout_ms_parse(v, &c->timeout_ms, w, wl);
	if (strcmp(key, "retries") == 0) {
		uint64_t n;
		if (cu_parse_u64(v, CU_SNMP_RETRIES_MAX, "retries", &n) < 0)
			return why(w, wl, "retries: 0 to %d", CU_SNMP_RETRIES_MAX);
		c->retries = (unsigned)n;
		return 0;
	}
	return why(w, wl, "unknown key \"%s\" in [snmp %s] (host, port, version, community_file, "
	           "user, auth_passphrase_file, priv_passphrase_file, timeout, retries)", key, c->name);
}

void
cd_snmp_conf_target(const struct cd_snmp_conf *c, struct cu_snmp_target *ret)
{
	*ret = (struct cu_snmp_target){.host = c->host, .port = (uint16_t)c->port,
	                               .version = c->version, .user = c->user[0] ? c->user : NULL,
	                               .timeout_ms = c->timeout_ms, .retries = c->retries};
}

static int
snmp_end(const void *obj, char *w, size_t wl)
{
	const struct cd_snmp_conf *c = obj;
	const char *v3_key = c->user[0] ? "user" : c->auth_file[0] ? "auth_passphrase_file"
	                     : c->priv_file[0] ? "priv_passphrase_file" : NULL;
	if (c->version == CU_SNMP_V2C) {
		if (c->community_file[0] == '\0')
			return why(w, wl, "[snmp %s]: version 2c needs community_file", c->name);
		if (v3_key != NULL)
			return why(w, wl, "[snmp %s]: %s is for version 3, not 2c", c->name, v3_key);
		if (c->timeout_ms != 0 || c->retries != 0)
			return why(w, wl, "[snmp %s]: a v2c trap is never answered: no timeout or retries",
			           c->name);
	} else {
		if (c->community_file[0] != '\0')
			return why(w, wl, "[snmp %s]: community_file is for version 2c, not 3", c->name);
		if (c->user[0] == '\0' || c->auth_file[0] == '\0' || c->priv_file[0] == '\0')
			return why(w, wl, "[snmp %s]: version 3 needs user, auth_passphrase_file and "
			           "priv_passphrase_file", c->name);
	}
	struct cu_snmp_target t;
	cd_snmp_conf_target(c, &t);
	return cu_snmp_target_check(&t, false) < 0 ? channel_why("snmp", c->name, w, wl) : 0;
}

/* ---- [email NAME] ---- */

static void
email_init(void *obj)
{
	(void)obj; /* every default is zero: no AUTH, the system's CAs, the channel's timeout */
}

static int
email_key(void *obj, const char *key, const char *v, const char *dir, char *w, size_t wl)
{
	struct cd_email_conf *c = obj;
	if (strcmp(key, "url") == 0) {
		if (cu_smtp_url_check(v) < 0)
			return why(w, wl, "%s", cu_error_detail());
		return text_copy(key, v, c->url, sizeof(c->url), w, wl);
	}
	if (strcmp(key, "ca") == 0)
		return cd_config_path(dir, key, v, c->ca_file, sizeof(c->ca_file), w, wl);
	if (strcmp(key, "user") == 0)
		return text_copy(key, v, c->user, sizeof(c->user), w, wl);
	if (strcmp(key, "password_file") == 0)
		return cd_config_path(dir, key, v, c->password_file, sizeof(c->password_file), w, wl);
	if (strcmp(key, "from") == 0) {
		if (cu_mail_address_check(v, "from") < 0)
			return why(w, wl, "%s", cu_error_detail());
		return text_copy(key, v, c->from, sizeof(c->from), w, wl);
	}
	if (strcmp(key, "to") == 0) {
		if (list_parse(key, v, &c->to[0][0], sizeof(c->to[0]), CU_SMTP_RCPT_MAX, &c->nto, w,
		               wl) < 0)
			return -1;
		for (size_t i = 0; i < c->nto; i++)
			if (cu_mail_address_check(c->to[i], "to") < 0)
				return why(w, wl, "%s (\"%.60s\")", cu_error_detail(), c->to[i]);
		return 0;
	}
	if (strcmp(key, "timeout") == 0)
		return timeout_ms_parse(v, &c->timeout_ms, w, wl);
	return why(w, wl, "unknown key \"%s\" in [email %s] (url, ca, user, password_file, from, "
	           "to, timeout)", key, c->name);
}

void
cd_email_conf_target(const struct cd_email_conf *c, const char *(*to)[CU_SMTP_RCPT_MAX],
                     struct cu_smtp_target *ret)
{
	for (size_t i = 0; i < c->nto; i++)
		(*to)[i] = c->to[i];
	*ret = (struct cu_smtp_target){.url = c->url, .ca_file = c->ca_file[0] ? c->ca_file : NULL,
	                               .user = c->user[0] ? c->user : NULL, .from = c->from,
	                               .to = *to, .n_to = c->nto, .timeout_ms = c->timeout_ms};
}

static int
email_end(const void *obj, char *w, size_t wl)
{
	const struct cd_email_conf *c = obj;
	if (c->url[0] == '\0' || c->from[0] == '\0' || c->nto == 0)
		return why(w, wl, "[email %s] needs url, from and to", c->name);
	if ((c->user[0] == '\0') != (c->password_file[0] == '\0'))
		return why(w, wl, "[email %s]: user and password_file go together", c->name);
	const char *to[CU_SMTP_RCPT_MAX];
	struct cu_smtp_target t;
	cd_email_conf_target(c, &to, &t);
	return cu_smtp_target_check(&t, false) < 0 ? channel_why("email", c->name, w, wl) : 0;
}
