/* The notification sections of the configuration: [notify], [rule NAME] and
 * the target kinds' sections (docs/notifications.md). Pure parsing. */
#include <stdarg.h>
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

/* ---- target kinds: one row each (webhook; snmp and email add theirs) ---- */

static int webhook_section(struct cd_notify_conf *n, const char *name, int line, void **ret,
                           char *w, size_t wl);
static int webhook_key(void *obj, const char *key, const char *v, const char *dir, char *w,
                       size_t wl);
static int webhook_end(struct cd_notify_conf *n, int *ret_line, char *w, size_t wl);
static bool webhook_exists(const struct cd_notify_conf *n, const char *name);

struct kind {
	const char *name;                 /* the section's word and the action's prefix */
	int (*section)(struct cd_notify_conf *n, const char *name, int line, void **ret, char *w,
	               size_t wl);
	int (*key)(void *obj, const char *key, const char *v, const char *dir, char *w, size_t wl);
	int (*end)(struct cd_notify_conf *n, int *ret_line, char *w, size_t wl);
	bool (*exists)(const struct cd_notify_conf *n, const char *name);
};

static const struct kind kinds[] = {
	{"webhook", webhook_section, webhook_key, webhook_end, webhook_exists},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

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
		    kinds[k].section(n, nm, line, &n->cur, w, wl) < 0)
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
		if (kinds[k].end(n, ret_line, w, wl) < 0)
			return -1;
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
				    !kinds[k].exists(n, col + 1))
					return why(w, wl, "[rule %s]: action %s: no [%s %s] section", r->name,
					           r->actions[a], kinds[k].name, col + 1);
		}
	}
	return 0;
}

/* ---- [webhook NAME] ---- */

static int
webhook_section(struct cd_notify_conf *n, const char *name, int line, void **ret, char *w,
                size_t wl)
{
	for (size_t i = 0; i < n->nwebhooks; i++)
		if (strcmp(n->webhooks[i].name, name) == 0)
			return why(w, wl, "webhook \"%s\" is defined twice (first at line %d)", name,
			           n->webhooks[i].line);
	if (n->nwebhooks == CD_WEBHOOKS_MAX)
		return why(w, wl, "more than %d webhooks", CD_WEBHOOKS_MAX);
	struct cd_webhook_conf *h = &n->webhooks[n->nwebhooks++];
	memset(h, 0, sizeof(*h));
	memcpy(h->name, name, strlen(name) + 1);
	h->line = line;
	h->sign_ed25519 = true;
	h->timeout_us = 10 * INT64_C(1000000);
	*ret = h;
	return 0;
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
	if (strcmp(key, "timeout") == 0) {
		if (cu_parse_duration(v, "timeout", &h->timeout_us) < 0)
			return why(w, wl, "%s", cu_error_detail());
		if (h->timeout_us < 100000 || h->timeout_us > 60 * INT64_C(1000000))
			return why(w, wl, "timeout: from 100ms to 60s");
		return 0;
	}
	return why(w, wl, "unknown key \"%s\" in [webhook %s] (url, ca, secret_file, sign, timeout)",
	           key, h->name);
}

static int
webhook_end(struct cd_notify_conf *n, int *ret_line, char *w, size_t wl)
{
	for (size_t i = 0; i < n->nwebhooks; i++) {
		const struct cd_webhook_conf *h = &n->webhooks[i];
		*ret_line = h->line;
		if (h->url[0] == '\0')
			return why(w, wl, "[webhook %s] has no url", h->name);
		if (h->secret_file[0] == '\0' && !h->sign_ed25519)
			return why(w, wl, "[webhook %s] signs nothing: give secret_file or sign = ed25519",
			           h->name);
	}
	return 0;
}

static bool
webhook_exists(const struct cd_notify_conf *n, const char *name)
{
	for (size_t i = 0; i < n->nwebhooks; i++)
		if (strcmp(n->webhooks[i].name, name) == 0)
			return true;
	return false;
}
