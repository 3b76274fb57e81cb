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
#define CD_SNMPS_MAX 16
#define CD_EMAILS_MAX 16
#define CD_SNMP_USER_MAX 32               /* a USM user name (the channel checks it) */
#define CD_SITE_MAX 64
#define CD_GIVE_UP_DEFAULT_US (24 * 3600 * INT64_C(1000000))
#define CD_KEEP_DEFAULT_US (90 * 86400 * INT64_C(1000000))
#define CD_NOTIFY_KINDS_TEXT "webhook NAME, snmp NAME, email NAME" /* sections, for messages */
#define CD_NOTIFY_KIND_NAMES "webhook, snmp, email"                /* the kinds, for messages */

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

/* [snmp NAME]: a manager that gets v2c traps or v3 informs. The secrets
 * stay in their files: custodyd reads them at each send. */
struct cd_snmp_conf {
	char name[CD_NOTIFY_NAME_MAX + 1];
	char host[CU_NOTIFY_HOST_MAX + 1];
	unsigned port;                    /* 0: 162 */
	enum cu_snmp_version version;     /* default 2c */
	char community_file[PATH_MAX];    /* v2c */
	char user[CD_SNMP_USER_MAX + 1];  /* v3 */
	char auth_file[PATH_MAX];         /* v3: auth_passphrase_file */
	char priv_file[PATH_MAX];         /* v3: priv_passphrase_file */
	unsigned timeout_ms;              /* v3: per attempt; 0: the channel's 5 s */
	unsigned retries;                 /* v3: at most CU_SNMP_RETRIES_MAX */
	int line;
};

/* [email NAME]: a mail server and the recipients. */
struct cd_email_conf {
	char name[CD_NOTIFY_NAME_MAX + 1];
	char url[CU_SMTP_URL_MAX + 1];    /* smtp:// (STARTTLS) or smtps:// */
	char ca_file[PATH_MAX];           /* "" = the system's CAs */
	char user[CU_SMTP_ADDR_MAX + 1];  /* "" = no AUTH */
	char password_file[PATH_MAX];     /* with user */
	char from[CU_SMTP_ADDR_MAX + 1];
	size_t nto;
	char to[CU_SMTP_RCPT_MAX][CU_SMTP_ADDR_MAX + 1];
	unsigned timeout_ms;              /* the whole transfer; 0: the channel's 30 s */
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
	size_t nsnmps;
	struct cd_snmp_conf snmps[CD_SNMPS_MAX];
	size_t nemails;
	struct cd_email_conf emails[CD_EMAILS_MAX];
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
 * sign, every snmp and email section is complete and passes its channel's
 * target check (secrets aside: their files are read at start). -1 with
 * *ret_line set to the section at fault. */
int cd_notify_conf_end(struct cd_notify_conf *n, int *ret_line, char *why, size_t whylen);
/* The channel's target of an [snmp NAME] entry, without its secrets (the
 * caller reads the files): pointers into c. */
void cd_snmp_conf_target(const struct cd_snmp_conf *c, struct cu_snmp_target *ret);
/* The channel's target of an [email NAME] entry, without the password:
 * pointers into c and *to (the recipients' array it fills). */
void cd_email_conf_target(const struct cd_email_conf *c, const char *(*to)[CU_SMTP_RCPT_MAX],
                          struct cu_smtp_target *ret);
/* Does the type pattern match type? ("*", "tamper.*", exact) */
bool cd_rule_type_match(const char *pattern, const char *type);
/* "info" .. "critical" -> 0..3, or -1. */
int cd_severity_parse(const char *s);

#endif
