/* custodyd: the recording server. Records every configured camera into the
 * store, one thread per camera; applies retention; SIGTERM stops cleanly
 * (every camera sealed and flushed), SIGHUP reloads the camera list.
 *
 *   custodyd --config FILE [--check] */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/error.h"
#include "custody/time.h"
#include "daemon.h"
#include "util/secret.h"

#define VERSION "0.1.0"

#define HEAD_INTERVAL_US (60 * INT64_C(1000000)) /* tree heads at least every minute */

struct daemon {
	const char *config_path;
	cu_audit *audit;
	struct cd_config *conf;
	cu_store *store;
	struct cd_cam *cams[CD_CAMERAS_MAX];
	size_t ncams;
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
	c->store = d->store;
	if (check_credentials(cfg, c->user, sizeof(c->user), c->password, sizeof(c->password)) < 0 ||
	    cd_cam_start(c) < 0) {
		cu_wipe(c->password, sizeof(c->password));
		free(c);
		return -1;
	}
	d->cams[d->ncams++] = c;
	return 0;
}

static void
stop_camera(struct daemon *d, size_t i)
{
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
	       a->max_age_us == b->max_age_us && a->max_bytes == b->max_bytes;
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
		else if (res.segments_deleted > 0) {
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
	/* store-wide limit: the oldest footage of any camera goes first */
	for (int round = 0; round < 10000; round++) {
		struct cu_store_info *info;
		if (cu_store_info(d->store, &info) < 0) {
			cd_log(CD_ERR, "retention: %s", cu_error_detail());
			return;
		}
		uint64_t total = info->total_bytes;
		struct cd_cam *oldest = NULL;
		int64_t oldest_us = INT64_MAX;
		uint64_t oldest_bytes = 0;
		for (size_t k = 0; k < info->ncameras; k++) {
			for (size_t i = 0; i < d->ncams; i++) {
				if (strcmp(d->cams[i]->cfg.name, info->cameras[k].name) == 0 &&
				    info->cameras[k].segments > 1 && info->cameras[k].first_us >= 0 &&
				    info->cameras[k].first_us < oldest_us) {
					oldest = d->cams[i];
					oldest_us = info->cameras[k].first_us;
					oldest_bytes = info->cameras[k].bytes;
				}
			}
		}
		cu_store_info_free(info);
		if (total <= d->conf->max_bytes || oldest == NULL)
			return;
		struct cu_retention_result res = {0};
		pthread_mutex_lock(&oldest->wlock);
		int r = cu_writer_retention(oldest->w, 0, oldest_bytes - 1, now, &res);
		pthread_mutex_unlock(&oldest->wlock);
		if (r < 0 || res.segments_deleted == 0)
			return;
		cd_audit("retention", "{\"camera\":\"%s\",\"segments\":%llu,\"bytes\":%llu,"
		         "\"store_limit\":%llu}", oldest->cfg.name,
		         (unsigned long long)res.segments_deleted, (unsigned long long)res.bytes_freed,
		         (unsigned long long)d->conf->max_bytes);
		cd_event("retention", oldest->cfg.name, "store over its %llu-byte limit: %llu "
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
	/* Signals are taken by this thread alone, with sigtimedwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	cd_event("daemon.started", NULL, "custodyd %s, store %s, %zu cameras configured", VERSION,
	         d.conf->store, d.conf->ncameras);
	cd_audit("daemon.start", "{\"version\":\"%s\",\"cameras\":%zu}", VERSION,
	         d.conf->ncameras);
	for (size_t i = 0; i < d.conf->ncameras; i++)
		if (d.conf->cameras[i].enabled)
			start_camera(&d, &d.conf->cameras[i]);
	int64_t next_retention = cu_time_mono_us() + d.conf->retention_interval_us;
	int64_t next_head = cu_time_mono_us();
	for (;;) {
		struct timespec ts = {0, 250 * 1000000};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			cd_log(CD_INFO, "signal %d: stopping", sig);
			break;
		}
		if (sig == SIGHUP)
			reload(&d);
		if (cu_time_mono_us() >= next_head) {
			if (cu_audit_sign_head(d.audit, NULL) < 0)
				cd_log(CD_ERR, "audit log: signing a tree head: %s", cu_error_detail());
			next_head = cu_time_mono_us() + HEAD_INTERVAL_US;
		}
		if (cu_time_mono_us() >= next_retention) {
			retention(&d);
			next_retention = cu_time_mono_us() + d.conf->retention_interval_us;
		}
	}
	/* tell every camera first, then wait: they wind down in parallel */
	for (size_t i = 0; i < d.ncams; i++)
		atomic_store(&d.cams[i]->stop, true);
	while (d.ncams > 0)
		stop_camera(&d, d.ncams - 1);
	cd_event("daemon.stopped", NULL, "every camera sealed and flushed");
	cd_audit("daemon.stop", "{}");
	if (cu_audit_sign_head(d.audit, NULL) < 0)
		cd_log(CD_ERR, "audit log: signing the last tree head: %s", cu_error_detail());
	rc = 0;
out:
	cd_audit_set(NULL);
	cu_audit_close(d.audit);
	cu_secret_free(pw, pwlen);
	cd_events_close();
	cu_store_close(d.store);
	free(d.conf);
	return rc;
}
