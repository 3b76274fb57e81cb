/* The notification sections of custodyd's configuration (docs/config.md,
 * docs/notifications.md): [notify], [rule NAME] and one section per target
 * kind ([webhook NAME]; [snmp NAME] and [email NAME] plug into the same
 * table, CD_NOTIFY_KINDS below and kinds[] in notify_conf.c). Pure: parsing
 * only, no files opened (custodyd reads secret files at start). */
#ifndef CD_NOTIFY_CONF_H
#define CD_NOTIFY_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/notify.h"

#define CD_NOTIFY_NAME_MAX 32         /* a rule's or a target's name: [a-z0-9_-] */
#define CD_RULES_MAX 32
#define CD_RULE_EVENTS_MAX 16
#define CD_RULE_CAMERAS_MAX 32
#define CD_RULE_ACTIONS_MAX 8
#define CD_WEBHOOKS_MAX 16
#define CD_SITE_MAX 64
#define CD_GIVE_UP_DEFAULT_US (24 * 3600 * INT64_C(1000000))
#define CD_KEEP_DEFAULT_US (90 * 86400 * INT64_C(1000000))
#define CD_NOTIFY_KINDS_TEXT "webhook NAME"   /* the kinds' sections, for messages */
#define CD_NOTIFY_KIND_NAMES "webhook"        /* the kinds, for messages */

struct cd_rule {
	char name[CD_NOTIFY_NAME_MAX + 1];
	size_t nevents;                   /* "tamper.*", "camera.offline", "*" */
	char events[CD_RULE_EVENTS_MAX][64];
	size_t ncameras;                  /* a camera, "group:NAME", "*"; none = "*" */
	char cameras[CD_RULE_CAMERAS_MAX][72];
	int severity;                     /* minimum: 0 info .. 3 critical */
	size_t nactions;                  /* "webhook:ops" */
	char actions[CD_RULE_ACTIONS_MAX][CD_NOTIFY_NAME_MAX + 16];
	unsigned rate_n;                  /* at most rate_n notices per rate_us per target; 0: none */
	int64_t rate_us;
	int line;
};

struct cd_webhook_conf {
	char name[CD_NOTIFY_NAME_MAX + 1];
	char url[CU_WEBHOOK_URL_MAX];
	char ca_file[PATH_MAX];           /* "" = the system's CAs */
	char secret_file[PATH_MAX];       /* "" = no v1 (HMAC) signature */
	bool sign_ed25519;                /* v1a with the store's recording key; default yes */
	int64_t timeout_us;               /* default 10 s */
	int line;
};

struct cd_notify_conf {
	char site[CD_SITE_MAX + 1];       /* the site's name in notices; default "custody" */
	int64_t give_up_us;               /* a notice not delivered by then fails; 24 h */
	int64_t keep_us;                  /* events kept this long; 90 d */
	size_t nrules;
	struct cd_rule rules[CD_RULES_MAX];
	size_t nwebhooks;
	struct cd_webhook_conf webhooks[CD_WEBHOOKS_MAX];
	bool given;                       /* a [notify] section was read */
	int cur_kind;                     /* while parsing: the section being read */
	void *cur;
};

void cd_notify_conf_defaults(struct cd_notify_conf *n);
/* A section header's name ("rule page-ops"): 1 not ours, 0 ours (*ret_sec
 * is what cd_notify_conf_key gets), -1 refused (reason in why). */
int cd_notify_conf_section(struct cd_notify_conf *n, const char *name, int line, void **ret_sec,
                           char *why, size_t whylen);
/* One key of such a section; dir resolves relative paths. 0 or -1 (why). */
int cd_notify_conf_key(struct cd_notify_conf *n, void *sec, const char *key, const char *v,
                       const char *dir, char *why, size_t whylen);
/* After the file: every action names a defined target, every webhook can
 * sign. -1 with *ret_line set to the section at fault. */
int cd_notify_conf_end(struct cd_notify_conf *n, int *ret_line, char *why, size_t whylen);
/* Does the type pattern match type? ("*", "tamper.*", exact) */
bool cd_rule_type_match(const char *pattern, const char *type);
/* "info" .. "critical" -> 0..3, or -1. */
int cd_severity_parse(const char *s);

#endif
