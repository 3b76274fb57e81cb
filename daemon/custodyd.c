/* custodyd: the recording server. Records every configured camera into the
 * store, one thread per camera; applies retention; SIGTERM stops cleanly
 * (every camera sealed and flushed), SIGHUP reloads the camera list.
 *
 *   custodyd --config FILE [--check] */
#include <errno.h>
#include <getopt.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/error.h"
#include "custody/time.h"
#include "custody/tls.h"
#include "custody/x509.h"
#include "api.h"
#include "daemon.h"
#include "export.h"
#include "http.h"
#include "live.h"
#include "notify.h"
#include "custody/file.h"
#include "custody/secret.h"

#define HEAD_INTERVAL_US (60 * INT64_C(1000000)) /* tree heads at least every minute */

struct daemon {
	const char *config_path;
	cu_audit *audit;
	struct cd_config *conf;
	cu_store *store;
	struct cd_cam *cams[CD_CAMERAS_MAX];
	size_t ncams;
	cu_auth *auth;
	struct cd_live *live;
	struct cd_api api;
	struct cd_http *http;
	struct cd_watch *watch;           /* the integrity watch, NULL when off */
	bool store_locked_reported;       /* retention.locked said for the store limit */
};

static const char usage[] =
	"usage: custodyd --config FILE [--check]\n"
	"Records the cameras of the configuration (docs/config.md) into its store.\n"
	"--check validates the configuration and credentials files and exits.\n"
	"Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the camera list.\n";

static struct cd_config *
load_config(const char *path)
{
	struct cd_config *c = malloc(sizeof(*c));
	char err[512];
	if (c == NULL) {
		cd_log(CD_ERR, "out of memory");
		return NULL;
	}
	if (cd_config_load(path, c, err, sizeof(err)) < 0) {
		cd_log(CD_ERR, "configuration %s: %s", path, err);
		free(c);
		return NULL;
	}
	return c;
}

static int
check_credentials(const struct cd_camera *cam, char *user, size_t ul, char *pw, size_t pl)
{
	user[0] = pw[0] = '\0';
	if (cam->credentials_file[0] == '\0')
		return 0;
	char err[512];
	if (cd_credentials_load(cam->credentials_file, user, ul, pw, pl, err, sizeof(err)) < 0) {
		cd_log(CD_ERR, "camera %s: credentials_file %s", cam->name, err);
		return -1;
	}
	return 0;
}

static int
start_camera(struct daemon *d, const struct cd_camera *cfg)
{
	if (d->ncams == CD_CAMERAS_MAX)
		return -1;
	struct cd_cam *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->cfg = *cfg;
	c->offline_after_us = d->conf->offline_after_us;
	c->reconnect_min_us = d->conf->reconnect_min_us;
	c->reconnect_max_us = d->conf->reconnect_max_us;
	c->tamper_conf = d->conf->tamper;
	c->tamper_on = cfg->tamper >= 0 ? cfg->tamper == 1 : d->conf->tamper.on;
	c->store = d->store;
	c->live = d->live;
	if (check_credentials(cfg, c->user, sizeof(c->user), c->password, sizeof(c->password)) < 0 ||
	    cd_cam_start(c) < 0) {
		cu_wipe(c->password, sizeof(c->password));
		free(c);
		return -1;
	}
	d->cams[d->ncams++] = c;
	cd_evrecord_add(c);
	return 0;
}

/* The operator's TLS private key: a regular file that only its owner may
 * read (like every secret file), at most 64 KiB. */
static int
read_key_file(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return cu_fail_errno(errno, "key_file %s", path);
	if (!S_ISREG(st.st_mode))
		return cu_fail(CU_ERR_INVAL, "key_file %s is not a regular file", path);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return cu_fail(CU_ERR_INVAL, "key_file %s can be read by others (mode %04o): chmod "
		               "600 it", path, (unsigned)(st.st_mode & 07777));
	uint8_t *k;
	if (cu_file_read(path, 64 * 1024, &k, ret_len) < 0)
		return -1;
	*ret = (char *)k;
	return 0;
}

/* The operator's certificate (first PEM block) and key must belong together:
 * said here with the file names, not as a failure deep inside the server. */
static int
check_pair(const char *cert_file, const char *cert, size_t cert_len, const char *key_file,
           const char *key, size_t key_len)
{
	BIO *cb = BIO_new_mem_buf(cert, (int)cert_len), *kb = BIO_new_mem_buf(key, (int)key_len);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int r = 0;
	if (x == NULL)
		r = cu_fail(CU_ERR_FORMAT, "cert_file %s: no PEM certificate in it", cert_file);
	else if (k == NULL)
		r = cu_fail(CU_ERR_FORMAT, "key_file %s: no unencrypted PEM private key in it",
		            key_file);
	else if (X509_check_private_key(x, k) != 1)
		r = cu_fail(CU_ERR_INVAL, "key_file %s is not the key of the certificate in "
		            "cert_file %s", key_file, cert_file);
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return r;
}

/* Starts the HTTPS API when the configuration has an [https] section. */
static int
start_https(struct daemon *d)
{
	const struct cd_https *hc = &d->conf->https;
	if (!hc->enabled) {
		cd_log(CD_INFO, "no [https] section: the API is off (recording only)");
		return 0;
	}
	int r = cu_auth_open(d->store, 0, &d->auth);
	if (r < 0) {
		cd_log(CD_ERR, "users (auth.db): %s", cu_error_detail());
		return -1;
	}
	if (cu_auth_set_token_lifetime(d->auth, hc->token_lifetime_us) < 0) {
		cd_log(CD_ERR, "https: token_lifetime: %s", cu_error_detail());
		return -1;
	}
	/* the program player folders carry: a configured one must be right, the
	 * default one may be missing (then only folders are refused) */
	char player_path[PATH_MAX] = "";
	int player_fd = -1;
	if (cd_exports_open_player(hc->player, &player_fd, player_path, sizeof(player_path)) < 0) {
		if (hc->player[0] != '\0') {
			cd_log(CD_ERR, "https: player: %s", cu_error_detail());
			return -1;
		}
		cd_log(CD_WARN, "exports with the player are off: %s (set [https] player)",
		       cu_error_detail());
		cu_error_clear();
	}
	struct cu_tls_material tls = {0};
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	/* the site TLS CA always exists: its fingerprint is what clients pin */
	const char *names[CD_HTTPS_NAMES_MAX];
	for (size_t i = 0; i < hc->nnames; i++)
		names[i] = hc->names[i];
	if ((r = cu_store_tls(d->store, hc->nnames ? names : NULL, hc->nnames, &tls)) < 0) {
		cd_log(CD_ERR, "https: the site TLS certificate: %s", cu_error_detail());
		if (player_fd >= 0)
			close(player_fd);
		return -1;
	}
	if (hc->cert_file[0] != '\0') {
		uint8_t *c = NULL;
		if (cu_file_read(hc->cert_file, 256 * 1024, &c, &cert_len) < 0 ||
		    read_key_file(hc->key_file, &key, &key_len) < 0 ||
		    check_pair(hc->cert_file, (const char *)c, cert_len, hc->key_file, key,
		               key_len) < 0) {
			if (key != NULL) {
				cu_wipe(key, key_len);
				free(key);
			}
			cd_log(CD_ERR, "https: %s", cu_error_detail());
			free(c);
			cu_tls_material_free(&tls);
			if (player_fd >= 0)
				close(player_fd);
			return -1;
		}
		cert = (char *)c;
	}
	struct cd_http_opts o = {
		.address = hc->listen,
		.port = hc->port,
		.cert_pem = cert ? cert : tls.chain_pem,
		.cert_len = cert ? cert_len : tls.chain_len,
		.key_pem = key ? key : tls.key_pem,
		.key_len = key ? key_len : tls.key_len,
		.handle = cd_api_handle,
		.ws_open = cd_api_ws_open,
		.ws_closed = cd_api_ws_closed,
		.ctx = &d->api,
	};
	struct cd_exports *exports = NULL;
	if (cd_exports_new(d->conf->store, d->store, d->auth, d->audit, player_fd, player_path,
	                   &exports) < 0) {
		cd_log(CD_ERR, "exports are off: %s", cu_error_detail());
		if (player_fd >= 0)
			close(player_fd);
	}
	d->api = (struct cd_api){
		.store = d->store, .auth = d->auth, .audit = d->audit, .live = d->live,
		.audit_views = hc->audit_views, .server_name = "custodyd",
		.idle_timeout_s = d->conf->web.idle_timeout_us / 1000000,
	};
	d->api.exports = exports;
	if (cert == NULL)
		cu_x509_fingerprint_hex(tls.ca_fp, d->api.tls_ca_fp, sizeof(d->api.tls_ca_fp));
	else
		d->api.tls_ca_fp[0] = '\0'; /* the operator's own chain: no site TLS CA in use */
	r = cd_http_start(&o, &d->http);
	free(cert);
	if (key != NULL) {
		cu_wipe(key, key_len);
		free(key);
	}
	char ca_fp[96];
	cu_x509_fingerprint_hex(tls.ca_fp, ca_fp, sizeof(ca_fp));
	cu_tls_material_free(&tls);
	if (r < 0) {
		cd_log(CD_ERR, "https: %s", cu_error_detail());
		return -1;
	}
	if (hc->cert_file[0] != '\0')
		cd_event("https.listening", NULL, "https://%s%s%s:%d/api/v1/ (operator certificate "
		         "%s)", strchr(hc->listen, ':') ? "[" : "", hc->listen,
		         strchr(hc->listen, ':') ? "]" : "", cd_http_port(d->http), hc->cert_file);
	else
		cd_event("https.listening", NULL, "https://%s%s%s:%d/api/v1/ (site TLS CA sha256 %s)",
		         strchr(hc->listen, ':') ? "[" : "", hc->listen,
		         strchr(hc->listen, ':') ? "]" : "", cd_http_port(d->http), ca_fp);
	return 0;
}

static void
stop_camera(struct daemon *d, size_t i)
{
	cd_evrecord_remove(d->cams[i]);
	cd_cam_stop(d->cams[i]);
	free(d->cams[i]);
	d->cams[i] = d->cams[--d->ncams];
}

static bool
same_camera(const struct cd_camera *a, const struct cd_camera *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->url, b->url) == 0 &&
	       strcmp(a->credentials_file, b->credentials_file) == 0 &&
	       strcmp(a->ca_file, b->ca_file) == 0 && a->have_pin == b->have_pin &&
	       memcmp(a->pin, b->pin, sizeof(a->pin)) == 0 && a->require_tls == b->require_tls &&
	       a->allow_redirect == b->allow_redirect && a->enabled == b->enabled &&
	       a->max_age_us == b->max_age_us && a->max_bytes == b->max_bytes &&
	       strcmp(a->onvif, b->onvif) == 0 &&
	       strcmp(a->onvif_credentials, b->onvif_credentials) == 0 &&
	       strcmp(a->onvif_ca, b->onvif_ca) == 0 &&
	       a->onvif_termination_us == b->onvif_termination_us &&
	       a->tamper == b->tamper;
}

static bool
same_tamper(const struct cd_tamper_conf *a, const struct cd_tamper_conf *b)
{
	return a->on == b->on && a->interval_us == b->interval_us &&
	       a->persistence_us == b->persistence_us && a->learn_us == b->learn_us;
}

static void
reload(struct daemon *d)
{
	struct cd_config *n = load_config(d->config_path);
	if (n == NULL) {
		cd_log(CD_ERR, "reload refused: keeping the running configuration");
		return;
	}
	if (strcmp(n->store, d->conf->store) != 0 ||
	    strcmp(n->password_file, d->conf->password_file) != 0 ||
	    n->offline_after_us != d->conf->offline_after_us ||
	    n->reconnect_min_us != d->conf->reconnect_min_us ||
	    n->reconnect_max_us != d->conf->reconnect_max_us ||
	    strcmp(n->events, d->conf->events) != 0) {
		cd_log(CD_WARN, "reload: [store] and [daemon] changes take effect at the next start; "
		       "applying the camera list only");
		struct cd_config keep = *d->conf;
		memcpy(n->store, keep.store, sizeof(n->store));
		memcpy(n->password_file, keep.password_file, sizeof(n->password_file));
		memcpy(n->events, keep.events, sizeof(n->events));
		n->offline_after_us = keep.offline_after_us;
		n->reconnect_min_us = keep.reconnect_min_us;
		n->reconnect_max_us = keep.reconnect_max_us;
	}
	if (!same_tamper(&n->tamper, &d->conf->tamper)) {
		cd_log(CD_WARN, "reload: [daemon] tamper settings take effect at the next start");
		n->tamper = d->conf->tamper;
	}
	if (memcmp(&n->web, &d->conf->web, sizeof(n->web)) != 0) {
		cd_log(CD_WARN, "reload: [web] changes take effect at the next start");
		n->web = d->conf->web;
	}
	if (memcmp(&n->https, &d->conf->https, sizeof(n->https)) != 0) {
		cd_log(CD_WARN, "reload: [https] changes take effect at the next start");
		n->https = d->conf->https;
	}
	/* stop cameras that went away or changed */
	for (size_t i = 0; i < d->ncams;) {
		const struct cd_camera *want = NULL;
		for (size_t k = 0; k < n->ncameras; k++)
			if (strcmp(n->cameras[k].name, d->cams[i]->cfg.name) == 0)
				want = &n->cameras[k];
		if (want == NULL || !want->enabled || !same_camera(want, &d->cams[i]->cfg)) {
			cd_event("camera.removed", d->cams[i]->cfg.name, "stopped by reload");
			cd_audit("camera.remove", "{\"camera\":\"%s\",\"by\":\"reload\"}",
			         d->cams[i]->cfg.name);
			stop_camera(d, i);
		} else {
			i++;
		}
	}
	struct cd_config *old = d->conf;
	d->conf = n;
	free(old);
	/* start new and changed ones */
	for (size_t k = 0; k < n->ncameras; k++) {
		bool running = false;
		for (size_t i = 0; i < d->ncams; i++)
			running |= strcmp(d->cams[i]->cfg.name, n->cameras[k].name) == 0;
		if (!running && n->cameras[k].enabled && start_camera(d, &n->cameras[k]) == 0)
		{
			cd_event("camera.added", n->cameras[k].name, "started by reload");
			cd_audit("camera.add", "{\"camera\":\"%s\",\"by\":\"reload\"}",
			         n->cameras[k].name);
		}
	}
	cd_log(CD_INFO, "reloaded %s: %zu cameras recording", d->config_path, d->ncams);
}

static void
retention(struct daemon *d)
{
	int64_t now = cu_time_now_us();
	for (size_t i = 0; i < d->ncams; i++) {
		struct cd_cam *c = d->cams[i];
		int64_t age = c->cfg.max_age_us ? c->cfg.max_age_us : d->conf->max_age_us;
		uint64_t bytes = c->cfg.max_bytes ? c->cfg.max_bytes : 0;
		if (age == 0 && bytes == 0)
			continue;
		struct cu_retention_result res;
		pthread_mutex_lock(&c->wlock);
		int r = cu_writer_retention(c->w, age, bytes, now, &res);
		pthread_mutex_unlock(&c->wlock);
		if (r < 0)
			cd_log(CD_ERR, "camera %s: retention: %s", c->cfg.name, cu_error_detail());
		/* said when the number changes, not at every run */
		if (r == 0 && res.segments_locked != c->locked_reported) {
			if (res.segments_locked > 0)
				cd_event("retention.locked", c->cfg.name, "%llu segments past the limits "
				         "are kept: they are under evidence locks",
				         (unsigned long long)res.segments_locked);
			c->locked_reported = res.segments_locked;
		}
		if (r == 0 && res.segments_deleted > 0) {
			cd_event("retention", c->cfg.name, "%llu segments (%llu bytes) deleted, signed "
			         "retention record written", (unsigned long long)res.segments_deleted,
			         (unsigned long long)res.bytes_freed);
			cd_audit("retention", "{\"camera\":\"%s\",\"segments\":%llu,\"bytes\":%llu}",
			         c->cfg.name, (unsigned long long)res.segments_deleted,
			         (unsigned long long)res.bytes_freed);
		}
	}
	if (d->conf->max_bytes == 0)
		return;
	/* store-wide limit: the oldest deletable footage of any camera goes
	 * first; footage under an evidence lock (or being written) is skipped */
	bool skip[CD_CAMERAS_MAX] = {false};
	for (int round = 0; round < 10000; round++) {
		struct cu_store_info *info;
		if (cu_store_info(d->store, &info) < 0) {
			cd_log(CD_ERR, "retention: %s", cu_error_detail());
			return;
		}
		uint64_t total = info->total_bytes;
		if (total <= d->conf->max_bytes) {
			cu_store_info_free(info);
			return;
		}
		struct cd_cam *pick = NULL;
		int64_t pick_us = INT64_MAX;
		uint64_t pick_bytes = 0;
		size_t pick_i = 0;
		for (size_t i = 0; i < d->ncams; i++) {
			struct cd_cam *c = d->cams[i];
			struct cu_retention_result q = {0};
			if (skip[i])
				continue;
			pthread_mutex_lock(&c->wlock);
			int r = cu_writer_retention(c->w, 0, 0, now, &q); /* a question only */
			pthread_mutex_unlock(&c->wlock);
			if (r < 0 || q.next_deletable_us < 0 || q.next_deletable_us >= pick_us)
				continue;
			for (size_t k = 0; k < info->ncameras; k++)
				if (strcmp(info->cameras[k].name, c->cfg.name) == 0) {
					pick = c;
					pick_i = i;
					pick_us = q.next_deletable_us;
					pick_bytes = info->cameras[k].bytes;
				}
		}
		cu_store_info_free(info);
		if (pick == NULL) {
			if (!d->store_locked_reported)
				cd_event("retention.locked", NULL, "the store is over its %llu-byte limit "
				         "but what is left is under evidence locks or being recorded",
				         (unsigned long long)d->conf->max_bytes);
			d->store_locked_reported = true;
			return;
		}
		d->store_locked_reported = false;
		struct cu_retention_result res = {0};
		pthread_mutex_lock(&pick->wlock);
		int r = cu_writer_retention(pick->w, 0, pick_bytes - 1, now, &res);
		pthread_mutex_unlock(&pick->wlock);
		if (r == CU_ERR_BUSY)
			continue; /* a lock was made meanwhile: ask again */
		if (r < 0 || res.segments_deleted == 0) {
			if (r < 0)
				cd_log(CD_ERR, "camera %s: retention: %s", pick->cfg.name,
				       cu_error_detail());
			skip[pick_i] = true;
			continue;
		}
		cd_audit("retention", "{\"camera\":\"%s\",\"segments\":%llu,\"bytes\":%llu,"
		         "\"store_limit\":%llu}", pick->cfg.name,
		         (unsigned long long)res.segments_deleted, (unsigned long long)res.bytes_freed,
		         (unsigned long long)d->conf->max_bytes);
		cd_event("retention", pick->cfg.name, "store over its %llu-byte limit: %llu "
		         "segments (%llu bytes) deleted, signed retention record written",
		         (unsigned long long)d->conf->max_bytes,
		         (unsigned long long)res.segments_deleted, (unsigned long long)res.bytes_freed);
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0, 0, 0, 0},
	};
	struct daemon d = {0};
	bool check = false;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': d.config_path = optarg; break;
		case 'k': check = true; break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("custodyd %s\n", VERSION); return 0;
		default:
			fprintf(stderr, "custodyd: unknown or incomplete option \"%s\"\n%s",
			        argv[optind - 1], usage);
			return 2;
		}
	}
	if (d.config_path == NULL || optind != argc) {
		fprintf(stderr, "custodyd: --config FILE is required\n%s", usage);
		return 2;
	}
	d.conf = load_config(d.config_path);
	if (d.conf == NULL)
		return 2;
	int rc = 2;
	char *pw = NULL;
	size_t pwlen = 0;
	for (size_t i = 0; i < d.conf->ncameras; i++) {
		char u[CU_RTSP_CRED_MAX + 1], p[CU_RTSP_CRED_MAX + 1];
		int r = check_credentials(&d.conf->cameras[i], u, sizeof(u), p, sizeof(p));
		cu_wipe(p, sizeof(p));
		if (r < 0)
			goto out;
	}
	if (cu_secret_file_read(d.conf->password_file, CU_PASSWORD_MAX, 1, &pw, &pwlen) < 0) {
		cd_log(CD_ERR, "[store] password_file %s", cu_error_detail());
		goto out;
	}
	if (cd_notify_check(&d.conf->notify) < 0)
		goto out;
	if (check) {
		printf("custodyd: %s is valid: store %s, %zu cameras\n", d.config_path, d.conf->store,
		       d.conf->ncameras);
		rc = 0;
		goto out;
	}
	int r = cu_store_open(d.conf->store, pw, pwlen, &d.store);
	cu_secret_free(pw, pwlen);
	pw = NULL;
	if (r < 0) {
		cd_log(CD_ERR, "store %s: %s", d.conf->store, cu_error_detail());
		goto out;
	}
	if (cd_events_open(d.conf->events) < 0)
		goto out;
	if (cu_audit_open(d.store, &d.audit) < 0) {
		cd_log(CD_ERR, "audit log: %s", cu_error_detail());
		goto out;
	}
	cd_audit_set(d.audit);
	if (cd_notify_start(&d.conf->notify, d.store, &d.auth) < 0)
		goto out;
	/* Signals are taken by this thread alone, with sigtimedwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* after the mask: the server's threads inherit it, so SIGTERM reaches
	 * only this thread's sigtimedwait */
	if (cd_live_new(&d.live) < 0 || start_https(&d) < 0)
		goto out;
	cd_event("daemon.started", NULL, "custodyd %s, store %s, %zu cameras configured", VERSION,
	         d.conf->store, d.conf->ncameras);
	cd_audit("daemon.start", "{\"version\":\"%s\",\"cameras\":%zu}", VERSION,
	         d.conf->ncameras);
	if (cd_evrecord_start() < 0)
		goto out;
	for (size_t i = 0; i < d.conf->ncameras; i++)
		if (d.conf->cameras[i].enabled)
			start_camera(&d, &d.conf->cameras[i]);
	if (cd_watch_start(d.store, &d.conf->watch, &d.watch) < 0)
		goto out;
	int64_t next_retention = cu_time_mono_us() + d.conf->retention_interval_us;
	int64_t next_head = cu_time_mono_us();
	int64_t next_tick = cu_time_mono_us() + CD_API_TICK_US;
	for (;;) {
		struct timespec ts = {0, 250 * 1000000};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			cd_log(CD_INFO, "signal %d: stopping", sig);
			break;
		}
		if (sig == SIGHUP) {
			reload(&d);
			cd_watch_verify_now(d.watch);
		}
		if (cu_time_mono_us() >= next_head) {
			if (cu_audit_sign_head(d.audit, NULL) < 0)
				cd_log(CD_ERR, "audit log: signing a tree head: %s", cu_error_detail());
			next_head = cu_time_mono_us() + HEAD_INTERVAL_US;
		}
		if (d.http != NULL && cu_time_mono_us() >= next_tick) {
			cd_api_tick(&d.api);
			cd_exports_tick(d.api.exports);
			next_tick = cu_time_mono_us() + CD_API_TICK_US;
		}
		if (cu_time_mono_us() >= next_retention) {
			retention(&d);
			next_retention = cu_time_mono_us() + d.conf->retention_interval_us;
		}
	}
	cd_watch_stop(d.watch);
	d.watch = NULL;
	cd_evrecord_stop(); /* what is queued goes into the footage before it closes */
	/* tell every camera first, then wait: they wind down in parallel */
	for (size_t i = 0; i < d.ncams; i++)
		atomic_store(&d.cams[i]->stop, true);
	while (d.ncams > 0)
		stop_camera(&d, d.ncams - 1);
	cd_notify_end_streams();
	cd_http_stop(d.http);
	d.http = NULL;
	/* exports append their last entries before the last tree head */
	cd_exports_free(d.api.exports);
	d.api.exports = NULL;
	cd_event("daemon.stopped", NULL, "every camera sealed and flushed");
	cd_audit("daemon.stop", "{}");
	if (cu_audit_sign_head(d.audit, NULL) < 0)
		cd_log(CD_ERR, "audit log: signing the last tree head: %s", cu_error_detail());
	rc = 0;
out:
	cd_watch_stop(d.watch);
	cd_evrecord_stop();
	while (d.ncams > 0)
		stop_camera(&d, d.ncams - 1);
	cd_notify_end_streams();
	cd_http_stop(d.http);
	cd_exports_free(d.api.exports);
	cd_live_free(d.live);
	cu_auth_close(d.auth);
	cd_notify_stop();
	cd_audit_set(NULL);
	cu_audit_close(d.audit);
	cu_secret_free(pw, pwlen);
	cd_events_close();
	cu_store_close(d.store);
	free(d.conf);
	return rc;
}
