/* Events kept, rules applied, notices delivered (docs/notifications.md).
 *
 * cd_emit ▸ cd_notify_event: de-duplicate conditions ▸ match rules ▸ rate
 * limit per rule and target ▸ one transaction: the event and its notices
 * (events.db, fsync'd) ▸ wake the worker and the live streams.
 * The worker: due notices ▸ the target kind's send ▸ delivered, retry later
 * (exponential back-off with jitter, Retry-After), or failed (refused, or
 * not delivered within give_up: a notify.failed event, never notified to
 * the target that failed). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/secret.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "daemon.h"
#include "notify.h"

#define BACKOFF_MIN_US INT64_C(1000000)
#define BACKOFF_MAX_US (300 * INT64_C(1000000))
#define DUE_BATCH 16
#define PRUNE_EVERY_US (3600 * INT64_C(1000000))

/* ---- target kinds: how a configured target is opened, sent to, closed ----
 * To add one (snmp, email): its section in notify_conf.c's kinds[], and a
 * row here whose send calls the channel's cu_<kind>_send. */

struct target {
	char name[CU_EVDB_TARGET_MAX + 1];   /* "webhook:ops" */
	const struct tkind *kind;
	void *obj;
};

struct tkind {
	const char *name;
	size_t (*count)(const struct cd_notify_conf *nc);
	int (*open)(const struct cd_notify_conf *nc, size_t i, cu_store *store, char *ret_name,
	            size_t namelen, void **ret);
	enum cu_send (*send)(void *obj, const struct cu_notice *n, int64_t *retry_after_us,
	                     char *err, size_t errlen);
	void (*close)(void *obj);
	bool stills;                     /* its notices carry the event's still (e-mail) */
};

struct webhook {
	struct cu_webhook_target t;
	char url[CU_WEBHOOK_URL_MAX];
	char ca[PATH_MAX];
	uint8_t secret[CU_WEBHOOK_SECRET_MAX];
};

static cu_sign_key *signer;              /* the store's recording key, for v1a */
static char public_b64[CU_WEBHOOK_KEY_TEXT];

static size_t
webhook_count(const struct cd_notify_conf *nc)
{
	return nc->nwebhooks;
}

/* Reads and checks the secret file into w (wiped by the caller on failure). */
static int
webhook_secret(const struct cd_webhook_conf *h, uint8_t secret[static CU_WEBHOOK_SECRET_MAX],
               size_t *ret_len)
{
	char *s = NULL;
	size_t sl = 0;
	int r = cu_secret_file_read(h->secret_file, 256, 1, &s, &sl);
	if (r == 0) {
		r = cu_webhook_secret_parse(s, secret, ret_len);
		cu_secret_free(s, sl);
		if (r < 0)
			r = cu_fail_prefix(r, "%s", h->secret_file);
	}
	return r;
}

/* ---- SNMP and e-mail: the secrets are read from their files at each
 * send and wiped after it, so that none stays in memory between notices
 * and a changed file applies at the next attempt. ---- */

struct secrets {
	char *s[3];
	size_t len[3];
};

static void
secrets_free(struct secrets *sec)
{
	for (size_t i = 0; i < 3; i++)
		cu_secret_free(sec->s[i], sec->len[i]);
	memset(sec, 0, sizeof(*sec));
}

static int
secret_read(const char *file, const char *key, struct secrets *sec, size_t i, const char **ret)
{
	int r = cu_secret_file_read(file, CU_NOTIFY_SECRET_MAX, 1, &sec->s[i], &sec->len[i]);
	if (r < 0)
		return cu_fail_prefix(r, "%s", key);
	*ret = sec->s[i];
	return 0;
}

/* The target of an [snmp] or [email] entry, with what it points to. */
union loaded {
	struct cu_snmp_target snmp;
	struct {
		const char *to[CU_SMTP_RCPT_MAX];
		struct cu_smtp_target t;
	} email;
};

/* The kinds whose target is a configuration entry: how the whole target
 * is loaded, its secrets read into sec (the caller frees them with
 * secrets_free, also on failure) and checked as the channel will; and how
 * a loaded target is sent to. */
struct conf_kind {
	const char *name;                /* "snmp" */
	int (*load)(const void *conf, struct secrets *sec, union loaded *t);
	enum cu_send (*send)(const union loaded *t, const struct cu_notice *n, char *err,
	                     size_t errlen);
};

static int
snmp_load(const void *conf, struct secrets *sec, union loaded *u)
{
	const struct cd_snmp_conf *c = conf;
	struct cu_snmp_target *t = &u->snmp;
	cd_snmp_conf_target(c, t);
	int r = c->version == CU_SNMP_V2C
	                ? secret_read(c->community_file, "community_file", sec, 0, &t->community)
	                : secret_read(c->auth_file, "auth_passphrase_file", sec, 1, &t->auth_pass);
	if (r == 0 && c->version == CU_SNMP_V3)
		r = secret_read(c->priv_file, "priv_passphrase_file", sec, 2, &t->priv_pass);
	if (r == 0)
		r = cu_snmp_target_check(t, true);
	return r;
}

static enum cu_send
snmp_deliver(const union loaded *t, const struct cu_notice *n, char *err, size_t errlen)
{
	return cu_snmp_send(&t->snmp, n, err, errlen);
}

static int
email_load(const void *conf, struct secrets *sec, union loaded *u)
{
	const struct cd_email_conf *c = conf;
	struct cu_smtp_target *t = &u->email.t;
	cd_email_conf_target(c, &u->email.to, t);
	int r = 0;
	if (c->password_file[0] != '\0')
		r = secret_read(c->password_file, "password_file", sec, 0, &t->password);
	if (r == 0)
		r = cu_smtp_target_check(t, true);
	return r;
}

static enum cu_send
email_deliver(const union loaded *t, const struct cu_notice *n, char *err, size_t errlen)
{
	return cu_smtp_send(&t->email.t, n, err, errlen);
}

static const struct conf_kind snmp_kind = {"snmp", snmp_load, snmp_deliver};
static const struct conf_kind email_kind = {"email", email_load, email_deliver};

/* Loads the target of conf and checks it, its secrets wiped again. */
static int
conf_check(const struct conf_kind *k, const void *conf)
{
	struct secrets sec = {0};
	union loaded t;
	int r = k->load(conf, &sec, &t);
	secrets_free(&sec);
	return r;
}

static size_t
snmp_count(const struct cd_notify_conf *nc)
{
	return nc->nsnmps;
}

static size_t
email_count(const struct cd_notify_conf *nc)
{
	return nc->nemails;
}

/* The target "KIND:NAME" of a configuration entry: a copy of its size
 * bytes (the configuration given to start may go away; no secret is in
 * it). Its secrets are read once here, so that a bad file stops the start. */
static int
conf_open(const struct conf_kind *k, const char *name, const void *entry, size_t size,
          char *ret_name, size_t namelen, void **ret)
{
	int r = conf_check(k, entry);
	if (r == 0)
		r = cu_path(ret_name, namelen, "%s:%s", k->name, name);
	void *copy = r == 0 ? malloc(size) : NULL;
	if (r == 0 && copy == NULL)
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
	if (r < 0)
		return cu_fail_prefix(r, "[%s %s]", k->name, name);
	memcpy(copy, entry, size);
	*ret = copy;
	return 0;
}

static int
snmp_open(const struct cd_notify_conf *nc, size_t i, cu_store *store, char *ret_name,
          size_t namelen, void **ret)
{
	(void)store;
	const struct cd_snmp_conf *c = &nc->snmps[i];
	return conf_open(&snmp_kind, c->name, c, sizeof(*c), ret_name, namelen, ret);
}

static int
email_open(const struct cd_notify_conf *nc, size_t i, cu_store *store, char *ret_name,
           size_t namelen, void **ret)
{
	(void)store;
	const struct cd_email_conf *c = &nc->emails[i];
	return conf_open(&email_kind, c->name, c, sizeof(*c), ret_name, namelen, ret);
}

/* Loads the target of conf (named name) and sends n to it, its secrets
 * wiped after. A secret file that cannot be read now (moved, a wrong mode)
 * is a reason to try again later, not to give the notice up at once:
 * give_up bounds it. */
static enum cu_send
conf_send(const struct conf_kind *k, const void *conf, const char *name,
          const struct cu_notice *n, char *err, size_t errlen)
{
	struct secrets sec = {0};
	union loaded t;
	enum cu_send res;
	if (k->load(conf, &sec, &t) < 0) {
		cu_fmt_cut(err, errlen, "[%s %s]: %s", k->name, name, cu_error_detail());
		res = CU_SEND_RETRY;
	} else {
		res = k->send(&t, n, err, errlen);
	}
	secrets_free(&sec);
	return res;
}

/* SNMP and e-mail have no Retry-After: *retry_after_us stays -1. */
static enum cu_send
snmp_send(void *obj, const struct cu_notice *n, int64_t *retry_after_us, char *err,
          size_t errlen)
{
	(void)retry_after_us;
	const struct cd_snmp_conf *c = obj;
	return conf_send(&snmp_kind, c, c->name, n, err, errlen);
}

static enum cu_send
email_send(void *obj, const struct cu_notice *n, int64_t *retry_after_us, char *err,
           size_t errlen)
{
	(void)retry_after_us;
	const struct cd_email_conf *c = obj;
	return conf_send(&email_kind, c, c->name, n, err, errlen);
}

static void
conf_close(void *obj)
{
	free(obj); /* a copy of the configuration: no secret in it */
}

int
cd_notify_check(const struct cd_notify_conf *nc)
{
	for (size_t i = 0; i < nc->nwebhooks; i++) {
		const struct cd_webhook_conf *h = &nc->webhooks[i];
		uint8_t secret[CU_WEBHOOK_SECRET_MAX];
		size_t sl;
		int r = 0;
		if (h->secret_file[0] != '\0')
			r = webhook_secret(h, secret, &sl);
		cu_wipe(secret, sizeof(secret));
		if (r == 0 && h->ca_file[0] != '\0' && access(h->ca_file, R_OK) != 0)
			r = cu_fail_errno(errno, "ca %s", h->ca_file);
		if (r < 0) {
			cd_log(CD_ERR, "[webhook %s] (line %d): %s", h->name, h->line, cu_error_detail());
			return -1;
		}
	}
	for (size_t i = 0; i < nc->nsnmps; i++) {
		const struct cd_snmp_conf *c = &nc->snmps[i];
		int r = conf_check(&snmp_kind, c);
		if (r < 0) {
			cd_log(CD_ERR, "[snmp %s] (line %d): %s", c->name, c->line, cu_error_detail());
			return -1;
		}
	}
	for (size_t i = 0; i < nc->nemails; i++) {
		const struct cd_email_conf *c = &nc->emails[i];
		int r = conf_check(&email_kind, c);
		if (r == 0 && c->ca_file[0] != '\0' && access(c->ca_file, R_OK) != 0)
			r = cu_fail_errno(errno, "ca %s", c->ca_file);
		if (r < 0) {
			cd_log(CD_ERR, "[email %s] (line %d): %s", c->name, c->line, cu_error_detail());
			return -1;
		}
	}
	return 0;
}

static int
webhook_open(const struct cd_notify_conf *nc, size_t i, cu_store *store, char *ret_name,
             size_t namelen, void **ret)
{
	const struct cd_webhook_conf *h = &nc->webhooks[i];
	struct webhook *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = cu_path(w->url, sizeof(w->url), "%s", h->url);
	if (r == 0 && h->ca_file[0] != '\0')
		r = cu_path(w->ca, sizeof(w->ca), "%s", h->ca_file);
	if (r == 0)
		r = cu_path(ret_name, namelen, "webhook:%s", h->name);
	w->t.url = w->url;
	w->t.ca_file = w->ca[0] ? w->ca : NULL;
	w->t.timeout_us = h->timeout_us;
	if (r == 0 && h->secret_file[0] != '\0') {
		r = webhook_secret(h, w->secret, &w->t.secret_len);
		w->t.secret = w->secret;
	}
	if (r == 0 && h->sign_ed25519) {
		if (signer == NULL && (r = cu_store_signer(store, &signer)) < 0)
			r = cu_fail_prefix(r, "the store's signing key");
		w->t.signer = signer;
	}
	if (r < 0) {
		cu_wipe(w->secret, sizeof(w->secret));
		free(w);
		return cu_fail_prefix(r, "[webhook %s]", h->name);
	}
	*ret = w;
	return 0;
}

static enum cu_send
webhook_send(void *obj, const struct cu_notice *n, int64_t *retry_after_us, char *err,
             size_t errlen)
{
	return cu_webhook_send(&((struct webhook *)obj)->t, n, retry_after_us, err, errlen);
}

static void
webhook_close(void *obj)
{
	struct webhook *w = obj;
	if (w == NULL)
		return;
	cu_wipe(w->secret, sizeof(w->secret));
	free(w);
}

static const struct tkind tkinds[] = {
	{"webhook", webhook_count, webhook_open, webhook_send, webhook_close, false},
	{"snmp", snmp_count, snmp_open, snmp_send, conf_close, false},
	{"email", email_count, email_open, email_send, conf_close, true},
};

/* The kind of a target "KIND:NAME", or NULL. */
static const struct tkind *
tkind_of(const char *target)
{
	size_t len = strcspn(target, ":");
	for (size_t k = 0; k < sizeof(tkinds) / sizeof(tkinds[0]); k++)
		if (strlen(tkinds[k].name) == len && strncmp(tkinds[k].name, target, len) == 0)
			return &tkinds[k];
	return NULL;
}

/* ---- state ---- */

#define TARGETS_MAX (CD_WEBHOOKS_MAX + CD_SNMPS_MAX + CD_EMAILS_MAX)

struct rate {                             /* per rule and target: a fixed window */
	int64_t window_start;
	unsigned used;
};

static struct {
	bool started;
	cu_evdb *db;
	struct cd_notify_conf conf;           /* a copy: reloads do not change it */
	cu_auth *const *auth;
	size_t ntargets;
	struct target targets[TARGETS_MAX];
	struct rate rates[CD_RULES_MAX][CD_RULE_ACTIONS_MAX];
	pthread_mutex_t lock;                 /* the rates, the ring, the worker's wake-up */
	pthread_cond_t wake, ring_cond;
	bool wake_flag;
	atomic_bool stop;
	atomic_bool streams_stop;             /* custodyd stops: live streams end */
	pthread_t worker;
	uint64_t ring_next;                   /* seq of the next event in the ring */
	struct cu_evrec ring[CD_NOTIFY_RING];
} N = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
       .ring_cond = PTHREAD_COND_INITIALIZER};

/* one event at a time through de-duplication and storing */
static pthread_mutex_t emit_lock = PTHREAD_MUTEX_INITIALIZER;

/* the worker's notify.failed events skip this target (no loop) */
static _Thread_local const char *skip_target;

cu_evdb *
cd_notify_db(void)
{
	return N.started ? N.db : NULL;
}

const char *
cd_notify_public_key(void)
{
	return public_b64;
}

/* ---- rules ---- */

/* The condition a raise or clear belongs to: the older pairs of
 * docs/events.md clear under another name. */
static const char *
condition_of(const char *type)
{
	if (strcmp(type, "camera.online") == 0)
		return "camera.offline";
	return type;
}

static bool
camera_matches(const struct cd_rule *r, const char *camera)
{
	if (r->ncameras == 0)
		return true;
	for (size_t i = 0; i < r->ncameras; i++) {
		const char *c = r->cameras[i];
		if (strcmp(c, "*") == 0)
			return true;
		if (camera[0] == '\0')
			continue;
		if (strncmp(c, "group:", 6) != 0) {
			if (strcmp(c, camera) == 0)
				return true;
			continue;
		}
		cu_auth *a = N.auth ? *N.auth : NULL;
		struct cu_auth_group *g = NULL;
		size_t ng = 0;
		if (a == NULL || cu_auth_group_list(a, &g, &ng) < 0)
			continue;
		for (size_t k = 0; k < ng; k++)
			if (strcmp(g[k].name, c + 6) == 0)
				for (size_t m = 0; m < g[k].ncameras; m++)
					if (strcmp(g[k].cameras[m], camera) == 0) {
						cu_auth_groups_free(g, ng);
						return true;
					}
		cu_auth_groups_free(g, ng);
	}
	return false;
}

static bool
rule_matches(const struct cd_rule *r, const struct cu_evrec *ev)
{
	if (ev->severity < r->severity && strcmp(ev->phase, "clear") != 0)
		return false;
	bool hit = false;
	const char *cond = condition_of(ev->type);
	for (size_t i = 0; i < r->nevents && !hit; i++)
		hit = cd_rule_type_match(r->events[i], ev->type) ||
		      cd_rule_type_match(r->events[i], cond);
	return hit && camera_matches(r, ev->camera);
}

/* With N.lock held: may rule ri send one more notice to action ai? */
static bool
rate_take(size_t ri, size_t ai, int64_t now)
{
	const struct cd_rule *r = &N.conf.rules[ri];
	if (r->rate_n == 0)
		return true;
	struct rate *rt = &N.rates[ri][ai];
	if (now - rt->window_start >= r->rate_us) {
		rt->window_start = now;
		rt->used = 0;
	}
	if (rt->used >= r->rate_n)
		return false;
	rt->used++;
	return true;
}

/* ---- publishing ---- */

/* The CLOCK_REALTIME deadline us from now, for pthread_cond_timedwait. */
static struct timespec
deadline_in(int64_t us)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = (int64_t)ts.tv_nsec + (us % 1000000) * 1000;
	ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	return ts;
}

static void
ring_push(const struct cu_evrec *ev)
{
	pthread_mutex_lock(&N.lock);
	N.ring[N.ring_next % CD_NOTIFY_RING] = *ev;
	N.ring_next++;
	pthread_cond_broadcast(&N.ring_cond);
	pthread_mutex_unlock(&N.lock);
}

uint64_t
cd_notify_cursor(void)
{
	pthread_mutex_lock(&N.lock);
	uint64_t c = N.ring_next;
	pthread_mutex_unlock(&N.lock);
	return c;
}

int
cd_notify_next(uint64_t *cursor, int64_t timeout_us, struct cu_evrec *ret)
{
	struct timespec ts = deadline_in(timeout_us);
	int r = 0;
	pthread_mutex_lock(&N.lock);
	while (*cursor == N.ring_next && !atomic_load(&N.streams_stop))
		if (pthread_cond_timedwait(&N.ring_cond, &N.lock, &ts) != 0)
			break;
	if (atomic_load(&N.streams_stop)) {
		r = -2;
	} else if (N.ring_next - *cursor > CD_NOTIFY_RING) {
		*cursor = N.ring_next;
		r = -1;
	} else if (*cursor < N.ring_next) {
		*ret = N.ring[*cursor % CD_NOTIFY_RING];
		(*cursor)++;
		r = 1;
	}
	pthread_mutex_unlock(&N.lock);
	return r;
}

static void
copy_field(char *dst, size_t len, const char *s)
{
	cu_fmt_cut(dst, len, "%s", s ? s : ""); /* bounded by cd_emit's own limits */
}

void
cd_notify_event(const struct cd_ev *ev)
{
	if (!N.started)
		return;
	struct cu_evrec rec = {0};
	if (cu_evdb_new_id(rec.id) < 0) {
		cd_log(CD_ERR, "events.db: %s", cu_error_detail());
		return;
	}
	rec.t_us = ev->t_us > 0 ? ev->t_us : cu_time_now_us();
	copy_field(rec.type, sizeof(rec.type), ev->type);
	copy_field(rec.camera, sizeof(rec.camera), ev->camera);
	copy_field(rec.source, sizeof(rec.source), ev->source ? ev->source : "custodyd");
	copy_field(rec.phase, sizeof(rec.phase), cd_phase_name(ev->phase));
	rec.severity = (int)ev->severity;
	copy_field(rec.detail, sizeof(rec.detail), ev->detail);
	/* de-duplication: a condition is notified when it starts and when it
	 * ends. Read here, written with the event and its notices in one
	 * transaction; emit_lock keeps the read and the write together. */
	pthread_mutex_lock(&emit_lock);
	bool notify = true;
	const char *conds[2] = {NULL, NULL};
	size_t nconds = 0;
	if (ev->phase != CD_ONCE) {
		/* recording.resumed ends either of two conditions (docs/events.md) */
		if (strcmp(rec.type, "recording.resumed") == 0) {
			conds[nconds++] = "recording.failed";
			conds[nconds++] = "recording.disk_full";
		} else {
			conds[nconds++] = condition_of(rec.type);
		}
		int any = 0;
		for (size_t i = 0; i < nconds; i++) {
			int was = cu_evdb_condition(N.db, conds[i], rec.camera, -1);
			if (was < 0)
				cd_log(CD_ERR, "events.db: %s", cu_error_detail());
			else
				any |= was;
		}
		if ((ev->phase == CD_RAISE) == (any == 1))
			notify = false; /* raised again while raised, or cleared while clear */
	}
	struct cu_evnote notes[CD_RULES_MAX];
	size_t nn = 0;
	int64_t now = cu_time_now_us();
	pthread_mutex_lock(&N.lock);
	for (size_t ri = 0; notify && ri < N.conf.nrules; ri++) {
		const struct cd_rule *r = &N.conf.rules[ri];
		if (!rule_matches(r, &rec))
			continue;
		for (size_t ai = 0; ai < r->nactions && nn < CD_RULES_MAX; ai++) {
			if (skip_target != NULL && strcmp(skip_target, r->actions[ai]) == 0)
				continue;
			bool dup = false;
			for (size_t k = 0; k < nn; k++)
				dup |= strcmp(notes[k].target, r->actions[ai]) == 0;
			if (dup)
				continue; /* two rules, one target: one notice */
			if (!rate_take(ri, ai, now)) {
				cd_log(CD_WARN, "rule %s: %s over its rate of %u: %s not notified", r->name,
				       r->actions[ai], r->rate_n, rec.id);
				continue;
			}
			struct cu_evnote *n = &notes[nn];
			memset(n, 0, sizeof(*n));
			if (cu_evdb_new_id(n->id) < 0)
				continue;
			copy_field(n->target, sizeof(n->target), r->actions[ai]);
			copy_field(n->rule, sizeof(n->rule), r->name);
			n->created_us = now;
			nn++;
		}
	}
	pthread_mutex_unlock(&N.lock);
	/* the still is kept once per event, and only for the notices that mail
	 * it (docs/notifications.md, "The still") */
	bool still = false;
	for (size_t k = 0; ev->still != NULL && k < nn; k++) {
		const struct tkind *tk = tkind_of(notes[k].target);
		still |= tk != NULL && tk->stills;
	}
	int stored = cu_evdb_add(N.db, &rec, conds, nconds, ev->phase == CD_RAISE ? 1 : 0, notes,
	                         nn, still ? ev->still : NULL, still ? ev->still_len : 0);
	pthread_mutex_unlock(&emit_lock);
	if (stored < 0) {
		cd_log(CD_ERR, "events.db: event %s not stored (%zu notices lost): %s", rec.type, nn,
		       cu_error_detail());
		return;
	}
	rec.seq = 0;
	ring_push(&rec);
	if (nn > 0) {
		pthread_mutex_lock(&N.lock);
		N.wake_flag = true;
		pthread_cond_signal(&N.wake);
		pthread_mutex_unlock(&N.lock);
	}
}

/* ---- the worker ---- */

static struct target *
target_find(const char *name)
{
	for (size_t i = 0; i < N.ntargets; i++)
		if (strcmp(N.targets[i].name, name) == 0)
			return &N.targets[i];
	return NULL;
}

static int64_t
backoff(int attempts)
{
	int64_t d = BACKOFF_MIN_US;
	for (int i = 1; i < attempts && d < BACKOFF_MAX_US; i++)
		d *= 2;
	if (d > BACKOFF_MAX_US)
		d = BACKOFF_MAX_US;
	uint32_t j = 0;
	cu_random(&j, sizeof(j));
	/* ±20 % jitter, so that receivers coming back are not hit all at once */
	return d * 8 / 10 + (int64_t)(j % (uint32_t)(d * 4 / 10 + 1));
}

static void
failed(const struct cu_evnote *n, const char *why)
{
	cd_log(CD_ERR, "notice %s to %s given up: %s", n->id, n->target, why);
	skip_target = n->target;
	cd_alarm("notify.failed", NULL, CD_ONCE, CD_SEV_MAJOR, "notice %s of %s (%s) to %s: %s",
	         n->id, n->ev.type, n->ev.id, n->target, why);
	skip_target = NULL;
}

static void
deliver(struct cu_evnote *n)
{
	char err[256] = "";
	int64_t now = cu_time_now_us(), retry_after = -1;
	struct target *t = target_find(n->target);
	enum cu_send res;
	if (t == NULL) {
		res = CU_SEND_REFUSED;
		cu_fmt_cut(err, sizeof(err), "no such target in the configuration now");
	} else {
		struct cu_notice no = {
			.id = n->id, .t_us = n->ev.t_us, .type = n->ev.type,
			.camera = n->ev.camera[0] ? n->ev.camera : NULL, .source = n->ev.source,
			.phase = n->ev.phase, .severity = cd_severity_name((enum cd_severity)n->ev.severity),
			.detail = n->ev.detail, .site = N.conf.site,
		};
		uint8_t *jpeg = NULL;
		char note[CU_EVDB_NOTE_MAX + 1] = "";
		int sr = t->kind->stills ? cu_evdb_still(N.db, n->ev.id, &jpeg, &no.still_len, note)
		                         : CU_ERR_NOTFOUND;
		if (sr < 0 && sr != CU_ERR_NOTFOUND) {
			res = CU_SEND_RETRY;
			cu_fmt_cut(err, sizeof(err), "events.db: the still: %s", cu_error_detail());
		} else {
			no.still = jpeg;
			no.still_note = sr == 0 && jpeg == NULL && note[0] ? note : NULL;
			res = t->kind->send(t->obj, &no, &retry_after, err, sizeof(err));
		}
		free(jpeg);
		now = cu_time_now_us();
	}
	int r;
	if (res == CU_SEND_OK) {
		r = cu_evdb_note_done(N.db, n->id, CU_EVDB_DELIVERED, now, "");
		cd_log(CD_INFO, "notice %s (%s) delivered to %s", n->id, n->ev.type, n->target);
	} else if (res == CU_SEND_REFUSED) {
		r = cu_evdb_note_done(N.db, n->id, CU_EVDB_FAILED, now, err);
		if (r == 0)
			failed(n, err);
	} else {
		int64_t next = now + backoff(n->attempts + 1);
		if (retry_after >= 0 && now + retry_after > next)
			next = now + retry_after;
		if (next - n->created_us > N.conf.give_up_us) {
			r = cu_evdb_note_done(N.db, n->id, CU_EVDB_FAILED, now, err);
			if (r == 0)
				failed(n, err);
		} else {
			r = cu_evdb_note_done(N.db, n->id, CU_EVDB_PENDING, next, err);
			cd_log(CD_WARN, "notice %s to %s: %s; again in %lld ms", n->id, n->target, err,
			       (long long)((next - now) / 1000));
		}
	}
	if (r < 0)
		cd_log(CD_ERR, "events.db: %s", cu_error_detail());
}

static void *
worker(void *arg)
{
	(void)arg;
	int64_t next_prune = 0;
	while (!atomic_load(&N.stop)) {
		int64_t now = cu_time_now_us(), next = INT64_MAX;
		if (cu_time_mono_us() >= next_prune) {
			if (cu_evdb_prune(N.db, now, N.conf.keep_us) < 0)
				cd_log(CD_ERR, "events.db: retention: %s", cu_error_detail());
			next_prune = cu_time_mono_us() + PRUNE_EVERY_US;
		}
		struct cu_evnote *due = NULL;
		size_t nd = 0;
		if (cu_evdb_due(N.db, now, DUE_BATCH, &due, &nd, &next) < 0) {
			cd_log(CD_ERR, "events.db: %s", cu_error_detail());
			next = now + BACKOFF_MAX_US / 10;
		}
		for (size_t i = 0; i < nd && !atomic_load(&N.stop); i++)
			deliver(&due[i]);
		free(due);
		if (nd > 0)
			continue; /* their next attempts are now due times to read */
		/* sleep until the next is due, a new notice, or stop */
		pthread_mutex_lock(&N.lock);
		if (!N.wake_flag && !atomic_load(&N.stop)) {
			int64_t wait = next == INT64_MAX ? 60 * INT64_C(1000000) : next - cu_time_now_us();
			if (wait > 0) {
				if (wait > 60 * INT64_C(1000000))
					wait = 60 * INT64_C(1000000);
				struct timespec ts = deadline_in(wait);
				pthread_cond_timedwait(&N.wake, &N.lock, &ts);
			}
		}
		N.wake_flag = false;
		pthread_mutex_unlock(&N.lock);
	}
	return NULL;
}

/* ---- start and stop ---- */

int
cd_notify_start(const struct cd_notify_conf *nc, cu_store *store, cu_auth *const *auth)
{
	N.conf = *nc;
	N.auth = auth;
	int r = cu_evdb_open(cu_store_ident(store).dir, &N.db);
	if (r < 0) {
		cd_log(CD_ERR, "events.db: %s", cu_error_detail());
		return -1;
	}
	for (size_t k = 0; k < sizeof(tkinds) / sizeof(tkinds[0]); k++) {
		size_t n = tkinds[k].count(nc);
		for (size_t i = 0; i < n; i++) {
			struct target *t = &N.targets[N.ntargets];
			if (N.ntargets == TARGETS_MAX ||
			    tkinds[k].open(nc, i, store, t->name, sizeof(t->name), &t->obj) < 0) {
				cd_log(CD_ERR, "notifications: %s", cu_error_detail());
				cd_notify_stop();
				return -1;
			}
			t->kind = &tkinds[k];
			N.ntargets++;
		}
	}
	if (signer != NULL) {
		struct cu_store_identity id = cu_store_ident(store);
		if (cu_webhook_key_text(id.signer->ed25519_pub, public_b64) < 0)
			public_b64[0] = '\0';
	}
	atomic_store(&N.stop, false);
	N.started = true;
	if (pthread_create(&N.worker, NULL, worker, NULL) != 0) {
		N.started = false;
		cd_log(CD_ERR, "notifications: cannot start the worker thread");
		cd_notify_stop();
		return -1;
	}
	cd_log(CD_INFO, "notifications: %zu rules, %zu targets; events in %s/%s%s%s", nc->nrules,
	       N.ntargets, cu_store_ident(store).dir, CU_EVDB_FILE,
	       public_b64[0] ? "; webhooks sign v1a with Ed25519 key " : "", public_b64);
	return 0;
}

void
cd_notify_end_streams(void)
{
	pthread_mutex_lock(&N.lock);
	atomic_store(&N.streams_stop, true);
	pthread_cond_broadcast(&N.ring_cond);
	pthread_mutex_unlock(&N.lock);
}

void
cd_notify_stop(void)
{
	cd_notify_end_streams();
	if (N.started) {
		pthread_mutex_lock(&N.lock);
		atomic_store(&N.stop, true);
		pthread_cond_signal(&N.wake);
		pthread_cond_broadcast(&N.ring_cond);
		pthread_mutex_unlock(&N.lock);
		pthread_join(N.worker, NULL);
		N.started = false;
	}
	for (size_t i = 0; i < N.ntargets; i++)
		N.targets[i].kind->close(N.targets[i].obj);
	N.ntargets = 0;
	cu_sign_key_free(signer);
	signer = NULL;
	cu_evdb_close(N.db);
	N.db = NULL;
}
