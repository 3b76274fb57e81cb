/* Camera-reported events over ONVIF: one thread per camera with `onvif =`
 * configured, a PullPoint subscription to the tamper, signal and digital
 * input topics, renewed before it ends, unsubscribed when the camera stops,
 * made again after errors with back-off. What the camera says becomes
 * onvif.* conditions, raised and cleared from each property's boolean state
 * (docs/onvif-events.md, docs/events.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "custody/onvif.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "daemon.h"
#include "onvif.h"

#define CONDS_MAX 64                  /* conditions followed per camera */
#define COND_KEY_MAX 200              /* bytes of a condition's source key */
#define MESSAGE_LIMIT 32              /* MessageLimit of each PullMessages */
#define WAIT_S_MAX 10                 /* PullMessages Timeout, at most */
#define REQUEST_TIMEOUT_MS 10000      /* one request, besides PullMessages' wait */

/* The topics asked for (ConcreteSet dialect, "//." takes a topic's subtree). */
static const char FILTER[] =
	"tns1:VideoSource/GlobalSceneChange//.|tns1:VideoSource/ImageTooDark//.|"
	"tns1:VideoSource/ImageTooBright//.|tns1:VideoSource/ImageTooBlurry//.|"
	"tns1:VideoSource/SignalLoss|tns1:RuleEngine/TamperDetector/Tamper|"
	"tns1:Device/Trigger/DigitalInput";

/* Topic -> event; docs/onvif-events.md has the same table for people. */
static const struct mapping {
	const char *topic;     /* ONVIF topic path without prefixes */
	bool subtree;          /* also every topic below it (…/ImagingService) */
	const char *type;      /* event type */
	const char *what;      /* for the detail */
	const char *item;      /* the Data SimpleItem with the boolean state */
	enum cd_severity severity;
} MAP[] = {
	{"VideoSource/GlobalSceneChange", true, "onvif.scene_change", "the scene changed",
	 "State", CD_SEV_MAJOR},
	{"VideoSource/ImageTooDark", true, "onvif.too_dark", "the image is too dark", "State",
	 CD_SEV_WARNING},
	{"VideoSource/ImageTooBright", true, "onvif.too_bright", "the image is too bright", "State",
	 CD_SEV_WARNING},
	{"VideoSource/ImageTooBlurry", true, "onvif.too_blurry", "the image is too blurry", "State",
	 CD_SEV_WARNING},
	{"RuleEngine/TamperDetector/Tamper", false, "onvif.tamper", "tampering", "IsTamper",
	 CD_SEV_MAJOR},
	{"VideoSource/SignalLoss", false, "onvif.signal_loss", "the video signal is lost", "State",
	 CD_SEV_MAJOR},
	{"Device/Trigger/DigitalInput", false, "onvif.input", "a digital input is active",
	 "LogicalState", CD_SEV_WARNING},
};

/* One followed condition: a mapping for one source (a video source, an input). */
struct cond {
	const struct mapping *map;
	char key[COND_KEY_MAX + 1];      /* the Source SimpleItems, "Name=Value, …" */
	bool raised;
};

struct cd_onvif {
	struct cd_cam *cam;
	pthread_t tid;
	bool have_user;
	char user[CU_ONVIF_CRED_MAX + 1];
	char password[CU_ONVIF_CRED_MAX + 1];
	struct cu_onvif_reply *rep;
	struct cond conds[CONDS_MAX];
	size_t nconds;
	bool unavailable;                /* onvif.unavailable is raised */
	bool table_full_said;
};

static void
emit(struct cd_onvif *o, const char *type, const char *source, enum cd_phase phase,
     enum cd_severity sev, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
emit(struct cd_onvif *o, const char *type, const char *source, enum cd_phase phase,
     enum cd_severity sev, const char *fmt, ...)
{
	char detail[CD_EVENT_DETAIL_MAX + 1];
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(detail, sizeof(detail), fmt, ap); /* a message: cut deliberately */
	va_end(ap);
	cd_emit(&(struct cd_ev){.type = type, .camera = o->cam->cfg.name, .source = source,
	                        .phase = phase, .severity = sev, .detail = detail});
}

/* The subscription cannot be made or was lost: raised once per outage. */
static void
unavailable(struct cd_onvif *o, int r, const char *why)
{
	if (r == CU_ERR_AUTH)
		cd_log(CD_ERR, "camera %s: ONVIF events: authentication refused (%s%s): %s",
		       o->cam->cfg.name, o->have_user ? "credentials from " : "no onvif_credentials",
		       o->have_user ? o->cam->cfg.onvif_credentials : "", why);
	else
		cd_log(CD_WARN, "camera %s: ONVIF events: %s", o->cam->cfg.name, why);
	if (o->unavailable)
		return;
	o->unavailable = true;
	emit(o, "onvif.unavailable", NULL, CD_RAISE, CD_SEV_WARNING, "%s%s",
	     r == CU_ERR_AUTH ? "authentication refused: " : "", why);
}

static void
available(struct cd_onvif *o, const char *address)
{
	cd_log(CD_INFO, "camera %s: ONVIF events: subscribed (%s)", o->cam->cfg.name, address);
	if (!o->unavailable)
		return;
	o->unavailable = false;
	emit(o, "onvif.unavailable", NULL, CD_CLEAR, CD_SEV_INFO,
	     "subscribed to the camera's events again");
}

static const struct mapping *
map_topic(const char *topic)
{
	for (size_t i = 0; i < sizeof(MAP) / sizeof(MAP[0]); i++) {
		size_t n = strlen(MAP[i].topic);
		if (strncmp(topic, MAP[i].topic, n) == 0 &&
		    (topic[n] == '\0' || (MAP[i].subtree && topic[n] == '/')))
			return &MAP[i];
	}
	return NULL;
}

static struct cond *
find_cond(struct cd_onvif *o, const struct mapping *m, const char *key)
{
	for (size_t i = 0; i < o->nconds; i++)
		if (o->conds[i].map == m && strcmp(o->conds[i].key, key) == 0)
			return &o->conds[i];
	if (o->nconds == CONDS_MAX) {
		if (!o->table_full_said)
			cd_log(CD_WARN, "camera %s: ONVIF events: more than %d sources; further ones "
			       "are ignored", o->cam->cfg.name, CONDS_MAX);
		o->table_full_said = true;
		return NULL;
	}
	struct cond *c = &o->conds[o->nconds++];
	c->map = m;
	memcpy(c->key, key, strlen(key) + 1);
	c->raised = false;
	return c;
}

static void
handle(struct cd_onvif *o, const struct cu_onvif_msg *msg)
{
	const struct mapping *m = msg->onvif_topic ? map_topic(msg->topic) : NULL;
	if (m == NULL)
		return; /* a topic the filter let through that custody does not follow */
	const char *v = cu_onvif_item(msg->data, msg->ndata, m->item);
	if (v == NULL)
		v = cu_onvif_item(msg->data, msg->ndata, "State");
	int on = cu_onvif_bool(v);
	if (msg->op != CU_ONVIF_OP_DELETED && on < 0) {
		cd_log(CD_WARN, "camera %s: ONVIF event %s without a boolean %s; ignored",
		       o->cam->cfg.name, msg->topic, m->item);
		return;
	}
	char key[COND_KEY_MAX + 1] = "";
	size_t off = 0;
	for (size_t i = 0; i < msg->nsource; i++) {
		/* a key too long is cut: it only tells sources apart */
		cu_fmt_cut(key + off, sizeof(key) - off, "%s%s=%s", i ? ", " : "",
		           msg->source[i].name, msg->source[i].value);
		off = strlen(key);
	}
	struct cond *c = find_cond(o, m, key);
	if (c == NULL)
		return;
	char when[CU_TIME_ISO_MAX];
	cu_time_text(msg->utc_us, when);
	const char *how = msg->op == CU_ONVIF_OP_INITIALIZED ? ", state when subscribing" : "";
	if (msg->op == CU_ONVIF_OP_DELETED) {
		if (c->raised)
			emit(o, m->type, "onvif", CD_CLEAR, CD_SEV_INFO, "the camera withdrew the "
			     "property (%s; topic %s; camera time %s)", key, msg->topic, when);
		c->raised = false;
		return;
	}
	if (on == 1 && !c->raised)
		emit(o, m->type, "onvif", CD_RAISE, m->severity, "%s (%s; topic %s; camera time %s%s)",
		     m->what, key[0] ? key : "no source", msg->topic, when, how);
	else if (on == 0 && c->raised)
		emit(o, m->type, "onvif", CD_CLEAR, CD_SEV_INFO, "no longer: %s (%s; topic %s; camera "
		     "time %s%s)", m->what, key[0] ? key : "no source", msg->topic, when, how);
	c->raised = on == 1;
}

/* How long the camera granted, from its own clock's two times. */
static int64_t
granted_us(const struct cu_onvif_reply *rep, int64_t asked_us)
{
	if (rep->termination_us > 0 && rep->current_us > 0 && rep->termination_us > rep->current_us)
		return rep->termination_us - rep->current_us;
	return asked_us;
}

/* One subscription, from Create to its end: 0 when stopping, else the error. */
static int
follow(struct cd_onvif *o, cu_onvif *cl, unsigned term_s, unsigned wait_s, int64_t *backoff)
{
	struct cd_cam *c = o->cam;
	int r = cu_onvif_subscribe(cl, term_s, FILTER, o->rep);
	if (r < 0)
		return r;
	available(o, cu_onvif_address(cl));
	*backoff = c->reconnect_min_us;
	int64_t asked = (int64_t)term_s * 1000000;
	int64_t renew_at = cu_time_mono_us() + granted_us(o->rep, asked) / 2;
	while (!atomic_load(&c->stop)) {
		if (cu_time_mono_us() >= renew_at) {
			if ((r = cu_onvif_renew(cl, term_s, o->rep)) < 0)
				break;
			renew_at = cu_time_mono_us() + granted_us(o->rep, asked) / 2;
		}
		if ((r = cu_onvif_pull(cl, wait_s, MESSAGE_LIMIT, o->rep)) < 0)
			break;
		for (size_t i = 0; i < o->rep->nmsg; i++)
			handle(o, &o->rep->msg[i]);
	}
	if (atomic_load(&c->stop)) {
		if (cu_onvif_unsubscribe(cl) < 0)
			cd_log(CD_WARN, "camera %s: ONVIF events: %s", c->cfg.name, cu_error_detail());
		else
			cd_log(CD_INFO, "camera %s: ONVIF events: unsubscribed", c->cfg.name);
		return 0;
	}
	return r;
}

static void *
onvif_main(void *arg)
{
	struct cd_onvif *o = arg;
	struct cd_cam *c = o->cam;
	unsigned term_s = (unsigned)(c->cfg.onvif_termination_us / 1000000);
	/* a pull returns well before the renewal is due */
	unsigned wait_s = term_s / 4 < 1 ? 1 : term_s / 4 > WAIT_S_MAX ? WAIT_S_MAX : term_s / 4;
	struct cu_onvif_opts opts = {
		.url = c->cfg.onvif, .user = o->have_user ? o->user : NULL,
		.password = o->have_user ? o->password : NULL,
		.ca_file = c->cfg.onvif_ca[0] ? c->cfg.onvif_ca : NULL,
		.timeout_ms = REQUEST_TIMEOUT_MS, .cancel = &c->stop,
	};
	cu_onvif *cl = NULL;
	int r = cu_onvif_open(&opts, &cl);
	cu_wipe(o->password, sizeof(o->password));
	if (r < 0) {
		unavailable(o, r, cu_error_detail());
		return NULL;
	}
	int64_t backoff = c->reconnect_min_us;
	uint32_t seed = (uint32_t)cu_time_mono_us() ^ (uint32_t)(uintptr_t)o;
	while (!atomic_load(&c->stop)) {
		r = follow(o, cl, term_s, wait_s, &backoff);
		if (r == 0 || atomic_load(&c->stop))
			break;
		char why[512];
		cu_fmt_cut(why, sizeof(why), "%s", cu_error_detail());
		unavailable(o, r, why);
		/* a new subscription brings the current states as Initialized */
		cd_cam_sleep(c, cd_backoff_next(&backoff, c->reconnect_max_us, &seed));
	}
	cu_onvif_close(cl);
	return NULL;
}

int
cd_onvif_start(struct cd_cam *c)
{
	if (c->cfg.onvif[0] == '\0')
		return 0;
	struct cd_onvif *o = calloc(1, sizeof(*o));
	if (o == NULL || (o->rep = malloc(sizeof(*o->rep))) == NULL) {
		free(o);
		cd_log(CD_ERR, "camera %s: ONVIF events: out of memory", c->cfg.name);
		return CU_ERR_NOMEM;
	}
	o->cam = c;
	if (c->cfg.onvif_credentials[0] != '\0') {
		char err[512];
		if (cd_credentials_load(c->cfg.onvif_credentials, o->user, sizeof(o->user),
		                        o->password, sizeof(o->password), err, sizeof(err)) < 0) {
			unavailable(o, CU_ERR_INVAL, err);
			free(o->rep);
			free(o);
			return CU_ERR_INVAL;
		}
		o->have_user = true;
	}
	if (pthread_create(&o->tid, NULL, onvif_main, o) != 0) {
		cu_wipe(o->password, sizeof(o->password));
		free(o->rep);
		free(o);
		cd_log(CD_ERR, "camera %s: ONVIF events: cannot start a thread", c->cfg.name);
		return CU_ERR_NOMEM;
	}
	c->onvif = o;
	return 0;
}

void
cd_onvif_stop(struct cd_cam *c)
{
	struct cd_onvif *o = c->onvif;
	if (o == NULL)
		return;
	atomic_store(&c->stop, true);
	pthread_join(o->tid, NULL);
	cu_wipe(o->password, sizeof(o->password));
	free(o->rep);
	free(o);
	c->onvif = NULL;
}
