/* One thread per camera: connect, record, notice silence, reconnect.
 *
 * States: connecting -> online (frames flow) -> offline (no frame for
 * offline_after, or the connection failed) -> connecting ... An outage is
 * written as a signed GAP record when the camera comes back (or at
 * shutdown), from the end of the last frame to the first new one. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "custody/error.h"
#include "custody/text.h"
#include "custody/time.h"
#include "camstate.h"
#include "daemon.h"
#include "live.h"
#include "onvif.h"
#include "tamper.h"

#define POLL_MS 200

struct state {
	bool online, ever;
	int64_t last_frame_end;           /* media time after the last frame, -1 none */
	int64_t last_frame_mono;
	int64_t outage_from;              /* start of the ongoing outage, -1 none */
	char outage_reason[256];
	bool disk_trouble;
	uint64_t dropped;
};

int64_t
cd_backoff_next(int64_t *backoff, int64_t max_us, uint32_t *seed)
{
	/* exponential back-off with ±20 % jitter */
	int64_t b = *backoff;
	*seed = *seed * 1103515245u + 12345u;
	int64_t jitter = (int64_t)(*seed >> 8) % (b / 5 * 2 + 1) - b / 5;
	*backoff = b * 2 > max_us ? max_us : b * 2;
	return b + jitter;
}

void
cd_cam_sleep(struct cd_cam *c, int64_t us)
{
	int64_t end = cu_time_mono_us() + us;
	while (!atomic_load(&c->stop)) {
		int64_t left = end - cu_time_mono_us();
		if (left <= 0)
			return;
		struct timespec ts = {0, (long)(left > 100000 ? 100000 : left) * 1000};
		nanosleep(&ts, NULL);
	}
}

static void
go_offline(struct cd_cam *c, struct state *st, const char *reason)
{
	if (st->outage_from < 0) {
		st->outage_from = st->last_frame_end >= 0 ? st->last_frame_end : cu_time_now_us();
		cu_fmt_cut(st->outage_reason, sizeof(st->outage_reason), "camera offline: %s", reason);
	}
	if (st->online || !st->ever) {
		cd_alarm("camera.offline", c->cfg.name, CD_RAISE, CD_SEV_MAJOR, "%s", reason);
		st->ever = true;
	}
	st->online = false;
	cd_camstate_set(c->cfg.name, CD_CAM_OFFLINE, st->outage_from, reason);
}

/* Writes the outage that just ended (at to_us) as a signed gap. */
static void
close_outage(struct cd_cam *c, struct state *st, int64_t to_us)
{
	if (st->outage_from < 0)
		return;
	int64_t from = st->outage_from;
	if (to_us < from)
		to_us = from;
	pthread_mutex_lock(&c->wlock);
	int r = cu_writer_gap(c->w, from, to_us, st->outage_reason);
	pthread_mutex_unlock(&c->wlock);
	if (r < 0)
		cd_log(CD_ERR, "camera %s: cannot record the outage: %s", c->cfg.name, cu_error_detail());
	st->outage_from = -1;
}

/* Writing failed (r): nothing is recorded while the camera is still heard. */
static void
disk_state(struct cd_cam *c, int r)
{
	char reason[CD_CAMSTATE_REASON_MAX + 1];
	int n = snprintf(reason, sizeof(reason), "recording failed: %s",
	                 r == CU_ERR_NOSPC ? "the disk is full" : cu_error_detail());
	if (n < 0)
		reason[0] = '\0';
	/* a longer detail is cut on purpose: the event log has it whole */
	cd_camstate_set(c->cfg.name, CD_CAM_STOPPED, cu_time_now_us(), reason);
}

static void
record(struct cd_cam *c, struct state *st, const cu_frame *f)
{
	pthread_mutex_lock(&c->wlock);
	int r = cu_writer_append(c->w, f);
	pthread_mutex_unlock(&c->wlock);
	if (r == 0) {
		cd_live_publish(c->live, c->cfg.name, f);
		cd_tamper_offer(c->tamper, f);
		if (st->disk_trouble) {
			cd_camstate_set(c->cfg.name, CD_CAM_RECORDING, f->ts_us, NULL);
			cd_alarm("recording.resumed", c->cfg.name, CD_CLEAR, CD_SEV_INFO,
			         "writing works again after %llu "
			         "frames were dropped; the loss is a signed gap record",
			         (unsigned long long)st->dropped);
			st->disk_trouble = false;
			st->dropped = 0;
		}
		return;
	}
	st->dropped++;
	if (!st->disk_trouble) {
		st->disk_trouble = true;
		disk_state(c, r);
		cd_alarm(r == CU_ERR_NOSPC ? "recording.disk_full" : "recording.failed", c->cfg.name,
		         CD_RAISE, CD_SEV_CRITICAL, "recording stopped: %s; frames are dropped until writing works again",
		         cu_error_detail());
	}
}

static void *
camera_main(void *arg)
{
	struct cd_cam *c = arg;
	struct state st = {.last_frame_end = -1, .outage_from = -1};
	int64_t backoff = c->reconnect_min_us;
	struct cu_rtsp_opts o = {
		.url = c->cfg.url, .user = c->user[0] ? c->user : NULL,
		.password = c->user[0] ? c->password : NULL,
		.ca_file = c->cfg.ca_file[0] ? c->cfg.ca_file : NULL,
		.pin = c->cfg.have_pin ? c->cfg.pin : NULL, .require_tls = c->cfg.require_tls,
		.allow_redirect = c->cfg.allow_redirect, .timeout_ms = 5000,
	};
	uint32_t seed = (uint32_t)cu_time_mono_us() ^ (uint32_t)(uintptr_t)c;
	while (!atomic_load(&c->stop)) {
		cu_rtsp *rt = NULL;
		int r = cu_rtsp_open(&o, &rt);
		if (r < 0) {
			char reason[512];
			cu_fmt_cut(reason, sizeof(reason), "%s", cu_error_detail());
			if (r == CU_ERR_AUTH)
				cd_log(CD_ERR, "camera %s: refused: %s", c->cfg.name, reason);
			go_offline(c, &st, reason);
			pthread_mutex_lock(&c->wlock);
			cu_writer_tick(c->w);
			pthread_mutex_unlock(&c->wlock);
			cd_cam_sleep(c, cd_backoff_next(&backoff, c->reconnect_max_us, &seed));
			continue;
		}
		struct cu_rtsp_stats rs;
		cu_rtsp_get_stats(rt, &rs);
		cd_log(CD_INFO, "camera %s: connected (%s%s%s)", c->cfg.name, rs.codec,
		       rs.tls ? ", TLS, certificate " : ", no TLS", rs.tls ? rs.peer_fingerprint : "");
		st.last_frame_mono = cu_time_mono_us();
		while (!atomic_load(&c->stop)) {
			cu_frame f;
			r = cu_rtsp_next(rt, &f, POLL_MS);
			if (r > 0) {
				if (!st.online) {
					close_outage(c, &st, f.ts_us);
					if (!st.disk_trouble)
						cd_camstate_set(c->cfg.name, CD_CAM_RECORDING, f.ts_us, NULL);
					cd_alarm("camera.online", c->cfg.name, CD_CLEAR, CD_SEV_INFO,
				         "frames arriving (%s)", rs.codec);
					st.online = st.ever = true;
					backoff = c->reconnect_min_us;
				}
				record(c, &st, &f);
				st.last_frame_end = f.ts_us + f.dur_us;
				st.last_frame_mono = cu_time_mono_us();
			} else if (r < 0) {
				char reason[512];
				cu_fmt_cut(reason, sizeof(reason), "connection lost: %s", cu_error_detail());
				go_offline(c, &st, reason);
				break;
			} else if (cu_time_mono_us() - st.last_frame_mono >= c->offline_after_us) {
				char reason[128];
				cu_fmt_cut(reason, sizeof(reason), "no frames for %lld ms",
				           (long long)((cu_time_mono_us() - st.last_frame_mono) / 1000));
				go_offline(c, &st, reason);
				break;
			}
			pthread_mutex_lock(&c->wlock);
			int tr = cu_writer_tick(c->w);
			pthread_mutex_unlock(&c->wlock);
			if (tr < 0 && !st.disk_trouble) {
				st.disk_trouble = true;
				disk_state(c, tr);
				cd_alarm(tr == CU_ERR_NOSPC ? "recording.disk_full" : "recording.failed",
				         c->cfg.name, CD_RAISE, CD_SEV_CRITICAL, "recording stopped: %s", cu_error_detail());
			}
		}
		cu_rtsp_get_stats(rt, &rs);
		if (rs.lost > 0 || rs.malformed > 0)
			cd_log(CD_WARN, "camera %s: %llu packets lost, %llu malformed, %llu access units "
			       "dropped", c->cfg.name, (unsigned long long)rs.lost,
			       (unsigned long long)rs.malformed, (unsigned long long)rs.dropped_aus);
		cu_rtsp_close(rt);
	}
	if (st.outage_from >= 0) {
		cu_fmt_cut(st.outage_reason + strlen(st.outage_reason),
		           sizeof(st.outage_reason) - strlen(st.outage_reason), " (until shutdown)");
		close_outage(c, &st, cu_time_now_us());
	}
	return NULL;
}

int
cd_cam_start(struct cd_cam *c)
{
	int r = cu_writer_open(c->store, c->cfg.name, &c->w);
	if (r < 0) {
		cd_log(CD_ERR, "camera %s: cannot record: %s", c->cfg.name, cu_error_detail());
		cd_camstate_set(c->cfg.name, CD_CAM_STOPPED, cu_time_now_us(),
		                "cannot record: the store refused a writer (see the server log)");
		return r;
	}
	pthread_mutex_init(&c->wlock, NULL);
	atomic_store(&c->stop, false);
	c->tamper = NULL;
	if (c->tamper_on && cd_tamper_start(c->cfg.name, &c->tamper_conf, &c->tamper) < 0)
		/* recording goes on without it */
		cd_log(CD_ERR, "camera %s: no tamper analysis: %s", c->cfg.name, cu_error_detail());
	cd_camstate_set(c->cfg.name, CD_CAM_OFFLINE, cu_time_now_us(), "connecting");
	if (pthread_create(&c->tid, NULL, camera_main, c) != 0) {
		cd_tamper_stop(c->tamper);
		c->tamper = NULL;
		cu_writer_close(c->w);
		c->w = NULL;
		pthread_mutex_destroy(&c->wlock);
		return CU_ERR_NOMEM;
	}
	c->running = true;
	/* camera events are an addition: recording goes on without them */
	(void)cd_onvif_start(c);
	return 0;
}

void
cd_cam_stop(struct cd_cam *c)
{
	if (!c->running)
		return;
	atomic_store(&c->stop, true);
	cd_onvif_stop(c);
	pthread_join(c->tid, NULL);
	cd_tamper_stop(c->tamper);
	c->tamper = NULL;
	int r = cu_writer_close(c->w);
	if (r < 0)
		cd_log(CD_ERR, "camera %s: closing the recording: %s", c->cfg.name, cu_error_detail());
	c->w = NULL;
	pthread_mutex_destroy(&c->wlock);
	cd_camstate_set(c->cfg.name, CD_CAM_STOPPED, cu_time_now_us(),
	                "recording stopped (removed from the configuration, or custodyd stopping)");
	cu_wipe(c->password, sizeof(c->password));
	c->running = false;
}
