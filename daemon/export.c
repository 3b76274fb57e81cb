/* Server-side exports (export.h; docs/api.md, "Exports"). POST exports
 * checks the cameras (the export function on each, with the 404/403 rule),
 * applies the caller's export profile (locked settings are enforced: a
 * request asking otherwise is refused, never quietly changed), writes the
 * "export" audit entry and signs a tree head over it (both go into an
 * evidence package), and starts a thread that writes the file into
 * STORE/exports/. The owner (or an admin) polls GET exports/{id} and
 * downloads GET exports/{id}/file. Footage is verified before anything is
 * written: a tampered range fails the export, naming the camera and the
 * start of the first failed segment. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "call.h"
#include "custody/crypto.h"
#include "custody/mux.h"
#include "custody/package.h"
#include "custody/time.h"
#include "daemon.h"
#include "export.h"
#include "export_body.h"
#include "still.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"

#define ID_BYTES 16                     /* export ids: 128 random bits, in hex */
#define ID_HEX (2 * ID_BYTES)
#define FILE_CHUNK (256 * 1024)         /* bytes read at once to hash or serve a file */
#define VERIFY_THREADS 2

enum { RUNNING = 0, DONE, FAILED };
static const char *const status_names[] = {"running", "done", "failed"};

struct job {
	struct job *next;                   /* cd_exports.jobs */
	struct cd_exports *x;
	/* fixed when made */
	char id[ID_HEX + 1];
	char user[CU_USER_NAME_MAX + 1];
	unsigned format;                    /* one CU_EXPORT_* bit */
	char profile[CU_PROFILE_NAME_MAX + 1];
	int64_t created_us, expires_us;
	char path[PATH_MAX];                /* STORE/exports/<id>.<ext>: what is downloaded */
	char pkg_path[PATH_MAX];            /* with the player: the package before it goes
	                                     * into the folder's tar (<id>.cuep), else "" */
	struct cu_pkg_range ranges[CU_PKG_CAMERAS_MAX];
	size_t nranges;
	bool by_times;                      /* stills at the "at" times given */
	struct cd_still *stills;
	size_t nstills;
	char case_ref[CU_PKG_CASE_MAX + 1];
	char *comments;
	bool encrypt, prevent_reexport, include_player;
	char *password;                     /* a secret: wiped and freed when the export ends */
	size_t password_len;
	int64_t audit_index;                /* -1: no audit log */
	struct cu_audit_head head;
	/* state, under x->lock */
	int status;
	bool deleted;                       /* DELETE came while it ran: its thread cleans up */
	uint64_t done, total;               /* progress */
	uint64_t bytes;
	uint8_t sha256[CU_SHA256_LEN];
	bool sealed;                        /* bytes and sha256 known: no seal_file */
	char error[1024];
	char fail_camera[CU_CAMERA_NAME_MAX + 1];
	int64_t fail_time_us;               /* -1: not tampering */
	char fail_reason[512];
	atomic_bool cancel;
};

struct cd_exports {
	char dir[PATH_MAX];
	cu_store *store;
	cu_auth *auth;
	cu_audit *audit;
	int player_fd;                      /* the custody program for player folders, or -1 */
	char player_path[PATH_MAX];         /* where it was found, for messages */
	pthread_mutex_t lock;
	pthread_cond_t idle;                /* signalled when an export ends */
	struct job *jobs;                   /* newest first */
	size_t njobs;
	int running;
	bool stopping;
};

/* ---- small helpers ---- */

/* An evidence package with the player is a folder, downloaded as a tar. */
static const char *
extension(unsigned format, bool folder)
{
	return format == CU_EXPORT_EVIDENCE && !folder ? "cuep"
	       : format == CU_EXPORT_MP4               ? "mp4"
	                                               : "tar";
}

static const char *
content_type(unsigned format, bool folder)
{
	return format == CU_EXPORT_EVIDENCE && !folder ? "application/octet-stream"
	       : format == CU_EXPORT_MP4               ? "video/mp4"
	                                               : "application/x-tar";
}

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	if (j->password != NULL) {
		cu_wipe(j->password, j->password_len);
		free(j->password);
	}
	free(j->comments);
	free(j->stills);
	cu_wipe(j, sizeof(*j));
	free(j);
}

/* Removes a file and the .tmp a writer may have left beside it. */
static void
remove_file(const char *path)
{
	char tmp[PATH_MAX + 8];
	if (path[0] == '\0')
		return;
	unlink(path);
	if (cu_path(tmp, sizeof(tmp), "%s.tmp", path) == 0)
		unlink(tmp);
}

/* Removes every file of an export. */
static void
remove_files(const struct job *j)
{
	remove_file(j->path);
	remove_file(j->pkg_path);
}

/* Unlinks j from x->jobs; with x->lock held. */
static void
unlist(struct cd_exports *x, struct job *j)
{
	for (struct job **pp = &x->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			x->njobs--;
			return;
		}
}

/* The caller's export id, or NULL; with x->lock held. Someone else's export
 * is not found for anyone but an admin. */
static struct job *
find(struct cd_exports *x, const char *id, const char *user, bool admin)
{
	if (id == NULL || strlen(id) != ID_HEX || strspn(id, "0123456789abcdef") != ID_HEX)
		return NULL;
	for (struct job *j = x->jobs; j != NULL; j = j->next)
		if (!j->deleted && strcmp(j->id, id) == 0 && (admin || strcmp(j->user, user) == 0))
			return j;
	return NULL;
}

static bool
is_admin(struct call *c)
{
	bool yes = cu_auth_check(c->a->auth, c->user, CU_FN_ADMIN, NULL) == 0;
	cu_error_clear();
	return yes;
}

/* {"error": {"code": "profile", "message", "setting", "profile"}} */
static void
reply_profile(struct call *c, int status, const char *setting, const char *profile,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void
reply_profile(struct call *c, int status, const char *setting, const char *profile,
              const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(msg, sizeof(msg), fmt, ap); /* a message: cut, deliberately */
	va_end(ap);
	json_t *e = json_pack("{s:s, s:s, s:s}", "code", "profile", "message", msg, "setting",
	                      setting);
	if (e != NULL && profile != NULL)
		json_object_set_new(e, "profile", json_string(profile));
	cd_call_reply_json(c, status, json_pack("{s:o}", "error", e));
}

/* ---- JSON ---- */

static json_t *
formats_json(unsigned formats)
{
	json_t *a = json_array();
	for (unsigned b = 1; b <= CU_EXPORT_STILLS; b <<= 1)
		if (formats & b)
			json_array_append_new(a, json_string(cu_auth_export_format_name(b)));
	return a;
}

static json_t *
profile_json(const struct cu_export_profile *p)
{
	json_t *set = json_object(), *roles = json_array();
	for (int i = 0; i < CU_PS_COUNT; i++) {
		json_t *v = i == CU_PS_PASSWORD_MIN_LENGTH ? json_integer(p->set[i].value)
		                                           : json_boolean(p->set[i].value);
		json_object_set_new(set, cu_auth_profile_setting_name(i),
		                    json_pack("{s:o, s:b}", "value", v, "locked", p->set[i].locked));
	}
	for (size_t i = 0; i < p->nroles; i++)
		json_array_append_new(roles, json_string(p->roles[i]));
	return json_pack("{s:s, s:b, s:o, s:o, s:o}", "name", p->name, "builtin", p->builtin,
	                 "formats", formats_json(p->formats), "settings", set, "roles", roles);
}

/* The cameras and what of them, as asked (for answers and the audit log). */
static json_t *
cameras_json(const struct job *j)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < j->nranges; i++) {
		const struct cu_pkg_range *rg = &j->ranges[i];
		json_t *o = json_pack("{s:s}", "camera", rg->camera);
		if (j->by_times) {
			json_t *at = json_array();
			for (size_t k = 0; k < j->nstills; k++)
				if (j->stills[k].cam == i)
					json_array_append_new(at, cd_json_time(j->stills[k].at_us));
			json_object_set_new(o, "at", at);
		} else {
			json_object_set_new(o, "from", cd_json_time(rg->from_us));
			json_object_set_new(o, "to", cd_json_time(rg->to_us));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

/* An export as GET exports/{id} shows it; with x->lock held. */
static json_t *
job_json(const struct job *j)
{
	double progress = j->status == DONE ? 1.0
	                  : j->total > 0   ? (double)j->done / (double)j->total
	                                   : 0.0;
	if (progress > 1.0)
		progress = 1.0;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:o, s:o, s:o, s:s}", "id",
	                      j->id, "user", j->user, "status", status_names[j->status], "format",
	                      cu_auth_export_format_name(j->format), "profile", j->profile,
	                      "progress", progress, "bytes", (json_int_t)j->bytes, "created",
	                      cd_json_time(j->created_us), "expires",
	                      cd_json_time(j->expires_us), "cameras", cameras_json(j), "case",
	                      j->case_ref);
	if (o == NULL)
		return NULL;
	if (j->format == CU_EXPORT_EVIDENCE) {
		json_object_set_new(o, "encrypted", json_boolean(j->encrypt));
		json_object_set_new(o, "prevent_reexport", json_boolean(j->prevent_reexport));
		json_object_set_new(o, "include_player", json_boolean(j->include_player));
	}
	if (j->status == DONE) {
		char hex[2 * CU_SHA256_LEN + 1];
		cu_hex(j->sha256, CU_SHA256_LEN, hex);
		json_object_set_new(o, "sha256", json_string(hex));
	}
	if (j->status == FAILED)
		json_object_set_new(o, "error", json_string(j->error));
	if (j->status == FAILED && j->fail_time_us >= 0)
		json_object_set_new(o, "tampered",
		                    json_pack("{s:s, s:o, s:s}", "camera", j->fail_camera,
		                              "failed_segment_start", cd_json_time(j->fail_time_us),
		                              "reason", j->fail_reason));
	return o;
}

/* ---- the exports directory ---- */

int
cd_exports_open_player(const char *configured, int *ret_fd, char *path, size_t cap)
{
	char self[PATH_MAX];
	uint8_t magic[4];
	struct stat st;
	int r, fd;
	if (configured != NULL && configured[0] != '\0') {
		if ((r = cu_path(path, cap, "%s", configured)) < 0)
			return r;
	} else {
		/* installed side by side (meson install puts both in bindir) */
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return cu_fail_errno(errno, "/proc/self/exe");
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash == NULL)
			return cu_fail(CU_ERR_INVAL, "/proc/self/exe is not a path");
		*slash = '\0';
		if ((r = cu_path(path, cap, "%s/custody", self)) < 0)
			return r;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cu_fail_errno(errno, "the custody program for player folders, %s", path);
	if (fstat(fd, &st) < 0) {
		r = cu_fail_errno(errno, "%s", path);
	} else if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
		r = cu_fail(CU_ERR_INVAL, "the custody program for player folders, %s, is not an "
		            "executable file", path);
	} else if (st.st_size > CU_PKG_FOLDER_PROGRAM_MAX) {
		r = cu_fail(CU_ERR_LIMIT, "the custody program for player folders, %s, is over %d "
		            "MiB", path, CU_PKG_FOLDER_PROGRAM_MAX / (1024 * 1024));
	} else if (cu_pread_all(fd, magic, sizeof(magic), 0, path) < 0 ||
	           memcmp(magic, "\x7f" "ELF", 4) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "the custody program for player folders, %s, is not an "
		            "ELF program", path);
	} else {
		*ret_fd = fd;
		return 0;
	}
	close(fd);
	return r;
}

int
cd_exports_new(const char *store_dir, cu_store *store, cu_auth *auth, cu_audit *audit,
               int player_fd, const char *player_path, struct cd_exports **ret)
{
	struct cd_exports *x = calloc(1, sizeof(*x));
	struct stat st;
	int r;
	if (x == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	x->player_fd = -1;
	if ((r = cu_path(x->dir, sizeof(x->dir), "%s/%s", store_dir, CD_EXPORT_DIR)) < 0 ||
	    (r = cu_mkdir(x->dir, 0700)) < 0)
		goto fail;
	/* it holds footage taken out of the store: its owner only */
	if (lstat(x->dir, &st) < 0) {
		r = cu_fail_errno(errno, "%s", x->dir);
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = cu_fail(CU_ERR_INVAL, "%s is not a directory", x->dir);
		goto fail;
	}
	if ((st.st_mode & 07777) != 0700 && chmod(x->dir, 0700) < 0) {
		r = cu_fail_errno(errno, "%s: chmod 0700", x->dir);
		goto fail;
	}
	/* exports of an earlier run are forgotten: their files go too */
	int dfd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		r = cu_fail_errno(errno, "%s", x->dir);
		if (dfd >= 0)
			close(dfd);
		goto fail;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(dfd, e->d_name, 0) < 0)
			cd_log(CD_WARN, "exports: cannot delete %s/%s: %s", x->dir, e->d_name,
			       strerror(errno));
	closedir(d);
	x->store = store;
	x->auth = auth;
	x->audit = audit;
	x->player_fd = player_fd;
	if ((r = cu_path(x->player_path, sizeof(x->player_path), "%s",
	                 player_path ? player_path : "")) < 0)
		goto fail;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->idle, NULL);
	*ret = x;
	return 0;
fail:
	free(x);
	return r;
}

void
cd_exports_tick(struct cd_exports *x)
{
	if (x == NULL)
		return;
	int64_t now = cu_time_now_us();
	struct job *gone = NULL;
	pthread_mutex_lock(&x->lock);
	for (struct job **pp = &x->jobs; *pp != NULL;) {
		struct job *j = *pp;
		if (now < j->expires_us || j->deleted) {
			pp = &j->next;
		} else if (j->status == RUNNING) {
			/* a day is far longer than any export takes: stop it, its
			 * thread cleans up */
			j->deleted = true;
			atomic_store(&j->cancel, true);
			pp = &j->next;
		} else {
			*pp = j->next;
			x->njobs--;
			j->next = gone;
			gone = j;
		}
	}
	pthread_mutex_unlock(&x->lock);
	while (gone != NULL) {
		struct job *j = gone;
		gone = j->next;
		remove_files(j);
		cd_log(CD_INFO, "export %s of %s expired: its file is deleted", j->id, j->user);
		job_free(j);
	}
}

void
cd_exports_free(struct cd_exports *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	for (struct job *j = x->jobs; j != NULL; j = j->next)
		atomic_store(&j->cancel, true);
	if (x->running > 0)
		cd_log(CD_INFO, "waiting for %d export(s) to stop", x->running);
	while (x->running > 0)
		pthread_cond_wait(&x->idle, &x->lock);
	struct job *j = x->jobs;
	x->jobs = NULL;
	pthread_mutex_unlock(&x->lock);
	while (j != NULL) {
		struct job *next = j->next;
		remove_files(j);
		job_free(j);
		j = next;
	}
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->idle);
	if (x->player_fd >= 0)
		close(x->player_fd);
	free(x);
}

/* ---- running an export (its own thread) ---- */

static void
set_progress(struct job *j, uint64_t done, uint64_t total)
{
	pthread_mutex_lock(&j->x->lock);
	j->done = done;
	j->total = total;
	pthread_mutex_unlock(&j->x->lock);
}

/* With the player, the package is 90 % of the work and its folder 10 %. */
#define SCALE UINT64_C(1000000)
#define PKG_SHARE (SCALE * 9 / 10)

static void
pkg_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct job *j = ctx;
	if (!j->include_player)
		set_progress(j, done, total);
	else if (total > 0)
		set_progress(j, (uint64_t)((double)done / (double)total * PKG_SHARE), SCALE);
}

static void
folder_progress(void *ctx, uint64_t done, uint64_t total)
{
	if (total > 0)
		set_progress(ctx, PKG_SHARE + (uint64_t)((double)done / (double)total *
		                                         (SCALE - PKG_SHARE)), SCALE);
}

/* Records a failure from the library's detail (this thread's). */
static int
fail(struct job *j, int r, const char *what)
{
	cu_fmt_cut(j->error, sizeof(j->error), "%s: %s", what,
	           cu_error_detail()[0] ? cu_error_detail() : cu_strerror(r));
	return r;
}

/* Verifies each camera's range; the first tampered one fails the export
 * with the camera and the start of its first failed segment. */
static int
verify_ranges(struct job *j)
{
	for (size_t i = 0; i < j->nranges; i++) {
		const struct cu_pkg_range *rg = &j->ranges[i];
		struct cu_verify_opts vo = {.camera = rg->camera, .from_us = rg->from_us,
		                            .to_us = rg->to_us, .threads = VERIFY_THREADS};
		struct cu_verify_report *rep = NULL;
		int r = cu_store_verify(j->x->store, &vo, &rep);
		if (r < 0)
			return fail(j, r, "verifying the recording");
		if (rep->tampered) {
			const struct cu_verify_camera *vc = &rep->cameras[rep->first_failure];
			char when[CU_TIME_ISO_MAX];
			cu_time_text(vc->fail_time_us, when);
			_Static_assert(sizeof(j->fail_camera) == sizeof(vc->name), "a camera name fits");
			memcpy(j->fail_camera, vc->name, sizeof(j->fail_camera));
			cu_fmt_cut(j->fail_reason, sizeof(j->fail_reason), "%s", vc->fail_reason);
			j->fail_time_us = vc->fail_time_us;
			cu_fmt_cut(j->error, sizeof(j->error), "camera %s: the recording failed "
			           "verification from the segment starting %s: %s", vc->name, when,
			           vc->fail_reason);
			cu_verify_report_free(rep);
			return CU_ERR_TAMPERED;
		}
		cu_verify_report_free(rep);
		if (atomic_load(&j->cancel))
			return CU_ERR_CANCELLED;
	}
	return 0;
}

/* The player folder as a tar (docs/evidence-export.md, "The player
 * folder"): the package just written, the custody program this server
 * found when it started, the recipe and README.txt; then the package file
 * goes, the tar holds it. */
static int
run_folder(struct job *j)
{
	char dir[64];
	cu_afile af = {.fd = -1};
	int pfd = -1, r;
	if ((r = cu_path(dir, sizeof(dir), "custody-%s", j->id)) < 0)
		return fail(j, r, "naming the folder");
	if ((pfd = open(j->pkg_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return fail(j, cu_fail_errno(errno, "%s", j->pkg_path), "reading the package");
	if ((r = cu_afile_open(&af, j->path, 0600, 0)) < 0) {
		fail(j, r, "creating the folder's tar");
		goto out;
	}
	struct cu_pkg_folder_opts fo = {
		.dir = dir,
		.package_fd = pfd,
		.program_fd = j->x->player_fd,
		.mtime_s = cu_time_now_us() / 1000000,
		.progress = folder_progress,
		.progress_ctx = j,
		.cancel = &j->cancel,
	};
	if ((r = cu_pkg_folder_tar(af.fd, &fo, NULL)) < 0) {
		if (r == CU_ERR_CANCELLED)
			cu_fmt_cut(j->error, sizeof(j->error), "cancelled");
		else
			fail(j, r, "writing the player folder");
		goto out;
	}
	if ((r = cu_afile_commit(&af)) < 0) {
		fail(j, r, "writing the player folder");
		goto out;
	}
	unlink(j->pkg_path); /* the tar holds it now */
out:
	cu_afile_abort(&af);
	if (pfd >= 0)
		close(pfd);
	return r;
}

static int
run_evidence(struct job *j)
{
	struct cu_pkg_export_opts o = {
		.ranges = j->ranges,
		.nranges = j->nranges,
		.case_ref = j->case_ref,
		.comments = j->comments ? j->comments : "",
		.exporter = j->user,
		.profile = j->profile,
		.encrypt = j->encrypt,
		.password = j->password,
		.password_len = j->password_len,
		.prevent_reexport = j->prevent_reexport,
		.audit_index = j->audit_index,
		.audit_head_size = j->head.size,
		.audit_head_time_us = j->head.time_us,
		.progress = pkg_progress,
		.progress_ctx = j,
		.cancel = &j->cancel,
		/* the recorder's disk: recording keeps its room, whatever the size */
		.keep_free = CD_EXPORT_FREE_MIN,
		.room_for_copy = j->include_player,
	};
	struct stat pst;
	if (j->include_player && fstat(j->x->player_fd, &pst) == 0)
		o.extra_bytes = (uint64_t)pst.st_size; /* the program goes into the folder too */
	memcpy(o.audit_head_root, j->head.root, CU_SHA256_LEN);
	memcpy(o.audit_head_chain, j->head.chain, CU_SHA256_LEN);
	memcpy(o.audit_head_sig, j->head.signature, CU_ED25519_SIG_LEN);
	struct cu_pkg_export_result res;
	int r = cu_pkg_export(j->x->store, j->include_player ? j->pkg_path : j->path, &o, &res);
	if (r == CU_ERR_TAMPERED) {
		/* the package says which camera and when in words; the range check
		 * gives the same as fields */
		fail(j, r, "the recording failed verification");
		char saved[sizeof(j->error)];
		memcpy(saved, j->error, sizeof(saved));
		if (verify_ranges(j) != CU_ERR_TAMPERED) {
			memcpy(j->error, saved, sizeof(saved));
			j->fail_time_us = -1;
		}
		return CU_ERR_TAMPERED;
	}
	if (r == CU_ERR_CANCELLED)
		cu_fmt_cut(j->error, sizeof(j->error), "cancelled");
	else if (r < 0)
		return fail(j, r, "writing the evidence package");
	if (r < 0)
		return r;
	if (j->include_player)
		return run_folder(j);
	/* the library hashed the package as it wrote it: no second read */
	memcpy(j->sha256, res.sha256, CU_SHA256_LEN);
	j->bytes = res.bytes;
	j->sealed = true;
	return 0;
}

struct mp4ctx {
	struct job *j;
	cu_mp4 *mp4;
	int64_t from, to;
};

static int
mp4_frame(void *ctx, const cu_frame *f)
{
	struct mp4ctx *m = ctx;
	if (atomic_load(&m->j->cancel))
		return CU_ERR_CANCELLED;
	if (f->ts_us > m->from)
		set_progress(m->j, (uint64_t)(f->ts_us - m->from), (uint64_t)(m->to - m->from));
	int r = cu_mp4_frame(m->mp4, f);
	if (r == CU_ERR_FORMAT || r == CU_ERR_UNSUPPORTED || r == CU_ERR_INVAL || r == CU_ERR_LIMIT)
		return 0; /* a frame that cannot go in this file is left out, as in playback */
	return r < 0 ? r : 0;
}

static int
run_mp4(struct job *j)
{
	const struct cu_pkg_range *rg = &j->ranges[0];
	int r = verify_ranges(j);
	if (r < 0)
		return r;
	struct mp4ctx m = {.j = j, .from = rg->from_us, .to = rg->to_us};
	struct cu_mp4_opts mo = {.fragmented = false, .path = j->path, .camera = rg->camera};
	if ((r = cu_mp4_new(&mo, &m.mp4)) < 0)
		return fail(j, r, "starting the MP4 writer");
	r = cu_store_read(j->x->store, rg->camera, rg->from_us, rg->to_us, mp4_frame, &m, NULL);
	if (r == 0)
		r = cu_mp4_finish(m.mp4);
	if (r == CU_ERR_NOTFOUND)
		cu_fmt_cut(j->error, sizeof(j->error), "camera %s has no video that starts with a key "
		           "frame in this range", rg->camera);
	else if (r == CU_ERR_CANCELLED)
		cu_fmt_cut(j->error, sizeof(j->error), "cancelled");
	else if (r < 0)
		fail(j, r, r == CU_ERR_TAMPERED ? "the recording failed verification"
		                                : "writing the MP4");
	cu_mp4_free(m.mp4);
	return r;
}

/* One tar member: header, data, padding (cu_tar_file_header). */
static int
tar_member(int fd, const char *name, const void *data, size_t len, int64_t mtime_s)
{
	static const uint8_t zeros[CU_TAR_BLOCK];
	uint8_t h[CU_TAR_BLOCK];
	int r;
	if ((r = cu_tar_file_header(name, 0644, len, mtime_s > 0 ? mtime_s : 0, h)) < 0 ||
	    (r = cu_write_all(fd, h, sizeof(h), "tar header")) < 0 ||
	    (r = cu_write_all(fd, data, len, name)) < 0)
		return r;
	return len % CU_TAR_BLOCK == 0 ? 0
	       : cu_write_all(fd, zeros, CU_TAR_BLOCK - len % CU_TAR_BLOCK, "tar padding");
}

static int
run_stills(struct job *j)
{
	cu_afile af;
	int r = verify_ranges(j);
	if (r < 0)
		return r;
	if ((r = cu_afile_open(&af, j->path, 0600, 0)) < 0)
		return fail(j, r, "creating the file");
	int fd = af.fd;
	static const uint8_t zeros[2 * CU_TAR_BLOCK];
	size_t written = 0, missing = 0;
	for (size_t i = 0; i < j->nstills && r == 0; i++) {
		const struct cd_still *sv = &j->stills[i];
		const char *cam = j->ranges[sv->cam].camera;
		if (atomic_load(&j->cancel)) {
			r = CU_ERR_CANCELLED;
			cu_fmt_cut(j->error, sizeof(j->error), "cancelled");
			break;
		}
		set_progress(j, i, j->nstills);
		uint8_t *jpeg = NULL;
		size_t len = 0;
		r = cd_still_at(j->x->store, cam, sv->at_us, &jpeg, &len);
		if (r == CU_ERR_NOTFOUND || r == CU_ERR_MEDIA) {
			missing++; /* nothing recorded at that moment: left out */
			cu_error_clear();
			r = 0;
			continue;
		}
		if (r < 0) {
			fail(j, r, r == CU_ERR_TAMPERED ? "the recording failed verification"
			                                : "making a still");
			break;
		}
		char when[CU_TIME_ISO_MAX], name[128];
		cu_time_text(sv->at_us, when);
		if ((r = cu_path(name, sizeof(name), "%s-%s.jpg", cam, when)) < 0 ||
		    (r = tar_member(fd, name, jpeg, len, sv->at_us / 1000000)) < 0)
			fail(j, r, "writing the stills");
		else
			written++;
		free(jpeg);
	}
	if (r == 0 && written == 0) {
		r = CU_ERR_NOTFOUND;
		cu_fmt_cut(j->error, sizeof(j->error), "there is no picture at any of the %zu "
		           "moments asked for", j->nstills);
	}
	if (r == 0 && ((r = cu_write_all(fd, zeros, sizeof(zeros), "tar end")) < 0 ||
	               (r = cu_afile_commit(&af)) < 0))
		fail(j, r, "writing the stills");
	cu_afile_abort(&af); /* after a commit: nothing to do */
	if (r == 0 && missing > 0)
		cd_log(CD_INFO, "export %s: %zu of %zu stills had no picture and are left out", j->id,
		       missing, j->nstills);
	return r;
}

/* SHA-256 and size of the finished file (made 0600, whoever wrote it). */
static int
seal_file(struct job *j)
{
	int fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	cu_sha256_ctx *h = NULL;
	uint8_t *buf = malloc(FILE_CHUNK);
	uint64_t total = 0;
	int r = 0;
	if (fd < 0 || buf == NULL) {
		r = fd < 0 ? cu_fail_errno(errno, "%s", j->path) : cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (fchmod(fd, 0600) < 0) {
		r = cu_fail_errno(errno, "chmod %s", j->path);
		goto out;
	}
	if ((r = cu_sha256_new(&h)) < 0 || (r = cu_sha256_init(h)) < 0)
		goto out;
	for (;;) {
		ssize_t n = read(fd, buf, FILE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cu_fail_errno(errno, "reading %s", j->path);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = cu_sha256_update(h, buf, (size_t)n)) < 0)
			goto out;
		total += (uint64_t)n;
	}
	if ((r = cu_sha256_final(h, j->sha256)) < 0)
		goto out;
	j->bytes = total;
out:
	cu_sha256_free(h);
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static void
audit_end(struct job *j, int status)
{
	cu_audit *au = j->x->audit;
	if (au == NULL)
		return;
	struct cu_audit_export_end e = {.id = j->id, .format = cu_auth_export_format_name(j->format),
	                                .done = status == DONE, .bytes = j->bytes,
	                                .error = j->error};
	memcpy(e.sha256, j->sha256, CU_SHA256_LEN);
	if (cu_audit_export_end(au, j->user, "daemon", &e, NULL) < 0)
		cd_log(CD_ERR, "audit log: export.end: %s", cu_error_detail());
}

static void *
job_main(void *arg)
{
	struct job *j = arg;
	struct cd_exports *x = j->x;
	cu_error_clear();
	int r = j->format == CU_EXPORT_EVIDENCE ? run_evidence(j)
	        : j->format == CU_EXPORT_MP4    ? run_mp4(j)
	                                        : run_stills(j);
	if (j->password != NULL) {
		cu_wipe(j->password, j->password_len);
		free(j->password);
		j->password = NULL;
	}
	if (r == 0 && !j->sealed && (r = seal_file(j)) < 0)
		fail(j, r, "reading the finished file");
	if (r < 0) {
		remove_files(j);
		if (j->error[0] == '\0')
			cu_fmt_cut(j->error, sizeof(j->error), "%s", cu_strerror(r));
		cd_log(r == CU_ERR_CANCELLED ? CD_INFO : CD_WARN, "export %s by %s failed: %s", j->id,
		       j->user, j->error);
	} else {
		cd_log(CD_INFO, "export %s by %s done: %llu bytes", j->id, j->user,
		       (unsigned long long)j->bytes);
	}
	/* the outcome is in the log before anyone may see it, and before a
	 * stopping server signs its last head */
	audit_end(j, r < 0 ? FAILED : DONE);
	pthread_mutex_lock(&x->lock);
	j->status = r < 0 ? FAILED : DONE;
	bool gone = j->deleted;
	if (gone)
		unlist(x, j);
	x->running--;
	pthread_cond_broadcast(&x->idle);
	pthread_mutex_unlock(&x->lock);
	/* x may be freed from here on; j is ours alone when it was deleted */
	if (gone) {
		remove_files(j);
		job_free(j);
	}
	return NULL;
}

/* ---- POST exports ---- */






/* What the request asked for, apart from the cameras. */
struct ask {
	const char *profile;                /* NULL: not named */
	int encrypt, prevent_reexport, include_player; /* -1: not asked */
	const char *password;               /* NULL: none */
	const char *comments;               /* NULL: none */
};

/* Picks the caller's profile and applies it (cu_auth_profile_decide, the
 * one place the rules live): fills j's profile, encrypt, prevent_reexport
 * and include_player. 0, or CD_ANSWERED (400/403 "profile", 400 "invalid"). */
static int
apply_profile(struct call *c, const struct ask *q, struct job *j)
{
	struct cu_export_profile *ps = NULL;
	size_t n = 0;
	int rc = cu_auth_profiles_for_user(c->a->auth, c->user, &ps, &n);
	if (rc < 0) {
		cd_call_reply_cu(c, rc, "reading your export profiles");
		return CD_ANSWERED;
	}
	struct cu_export_ask ask = {
		.profile = q->profile, .format = j->format, .comments = q->comments,
		.password = q->password, .encrypt = q->encrypt,
		.prevent_reexport = q->prevent_reexport, .include_player = q->include_player,
	};
	struct cu_export_decision d;
	rc = cu_auth_profile_decide(ps, n, &ask, &d);
	cu_auth_profiles_free(ps, n);
	if (rc == 0) {
		_Static_assert(sizeof(j->profile) == sizeof(d.profile), "a profile name fits");
		memcpy(j->profile, d.profile, sizeof(j->profile));
		j->encrypt = d.encrypt;
		j->prevent_reexport = d.prevent_reexport;
		j->include_player = d.include_player;
		return 0;
	}
	if (rc != CU_ERR_AUTH && rc != CU_ERR_INVAL) {
		cd_call_reply_cu(c, rc, "applying your export profile");
		return CD_ANSWERED;
	}
	if (d.setting == NULL)
		cd_reply_error(c->r, 400, "invalid", "%s", cu_error_detail());
	else
		reply_profile(c, d.forbidden ? 403 : 400, d.setting, d.profile[0] ? d.profile : NULL,
		              "%s", cu_error_detail());
	return CD_ANSWERED;
}

/* The "export" audit entry and a tree head over it, for the package. */
static int
audit_export(struct call *c, struct job *j)
{
	cu_audit *au = c->a->audit;
	j->audit_index = -1;
	if (au == NULL)
		return 0;
	json_t *d = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "id", j->id,
	                      "format", cu_auth_export_format_name(j->format), "cameras",
	                      cameras_json(j), "case", j->case_ref, "comments",
	                      j->comments ? j->comments : "", "profile", j->profile, "encryption",
	                      j->format == CU_EXPORT_EVIDENCE && j->encrypt, "signature",
	                      j->format == CU_EXPORT_EVIDENCE, "prevent_reexport",
	                      j->format == CU_EXPORT_EVIDENCE && j->prevent_reexport,
	                      "include_player", j->format == CU_EXPORT_EVIDENCE && j->include_player);
	char *text = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	if (text == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	struct cd_req *r = c->r;
	struct cu_audit_entry e = {.type = "export", .actor = c->user,
	                           .source = cd_req_source(r)[0] ? cd_req_source(r) : "-",
	                           .detail = text};
	uint64_t index;
	int rc = cu_audit_append(au, &e, &index);
	free(text);
	if (rc < 0)
		return rc;
	j->audit_index = (int64_t)index;
	if ((rc = cu_audit_sign_head(au, &j->head)) < 0)
		return rc;
	return 0;
}

void
cd_export_create(struct call *c)
{
	struct cd_api *a = c->a;
	struct cd_exports *x = a->exports;
	struct cd_req *r = c->r;
	struct job *j = NULL;
	const char *pw = NULL;
	bool reserved = false;
	if (x == NULL) {
		cd_reply_error(r, 503, "busy", "exports are not available on this server");
		return;
	}
	json_t *o = cd_call_body_json(c);
	if (o == NULL)
		return;
	struct cd_export_body b;
	struct cd_refusal e;
	if (cd_export_body_parse(o, &b, &e) < 0) {
		cd_call_refuse(c, &e);
		goto out;
	}
	pw = b.password;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		cd_export_body_free(&b);
		cd_reply_error(r, 503, "busy", "out of memory");
		goto out;
	}
	j->x = x;
	j->fail_time_us = -1;
	atomic_init(&j->cancel, false);
	j->format = b.format;
	memcpy(j->ranges, b.ranges, sizeof(b.ranges));
	j->nranges = b.nranges;
	j->by_times = b.by_times;
	j->stills = b.stills;               /* the job owns them now */
	j->nstills = b.nstills;
	b.stills = NULL;
	struct ask q = {.profile = b.profile, .encrypt = b.encrypt,
	                .prevent_reexport = b.prevent_reexport, .include_player = b.include_player,
	                .password = b.password, .comments = b.comments};
	const char *case_ref = b.case_ref, *comments = b.comments;
	/* the cameras before the profile: a camera the caller may not know
	 * about is 404 whatever else is wrong */
	for (size_t i = 0; i < j->nranges; i++)
		if (cd_call_need_camera(c, j->ranges[i].camera, CU_FN_EXPORT) < 0)
			goto out;
	if (apply_profile(c, &q, j) < 0)
		goto out;
	j->include_player = j->include_player && j->format == CU_EXPORT_EVIDENCE;
	if (j->include_player && x->player_fd < 0) {
		cd_reply_error(r, 503, "player_unavailable", "this server has no custody program to "
		               "put beside the package (it looked for %s; an administrator sets "
		               "[https] player in custodyd's configuration): ask for the package "
		               "without the player, where the profile allows it",
		               x->player_path[0] ? x->player_path : "custody beside custodyd");
		goto out;
	}
	_Static_assert(sizeof(j->user) == sizeof(c->user), "a user name fits");
	memcpy(j->user, c->user, sizeof(j->user));
	if (cd_call_copy(c, j->case_ref, sizeof(j->case_ref), case_ref, "case") < 0)
		goto out;
	if ((comments != NULL && (j->comments = strdup(comments)) == NULL) ||
	    (j->format == CU_EXPORT_EVIDENCE && j->encrypt &&
	     (j->password = strdup(pw)) == NULL)) {
		cd_reply_error(r, 503, "busy", "out of memory");
		goto out;
	}
	if (j->password != NULL)
		j->password_len = strlen(j->password);

	/* room: two at once, a bounded number kept, and the store's disk */
	pthread_mutex_lock(&x->lock);
	bool busy = x->stopping || x->running >= CD_EXPORTS_RUNNING_MAX;
	bool full = x->njobs >= CD_EXPORTS_KEPT_MAX;
	if (!busy && !full) {
		x->running++;
		reserved = true;
	}
	pthread_mutex_unlock(&x->lock);
	if (busy || full) {
		cd_reply_header(r, "Retry-After", busy ? "30" : "3600");
		cd_reply_error(r, 503, "busy", busy ? "%d exports are running, the most at once: try "
		               "again later" : "%d exports are kept: delete some first",
		               busy ? CD_EXPORTS_RUNNING_MAX : CD_EXPORTS_KEPT_MAX);
		goto out;
	}
	struct statvfs vfs;
	if (statvfs(x->dir, &vfs) == 0 &&
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize < CD_EXPORT_FREE_MIN) {
		cd_reply_error(r, 507, "disk_full", "the store's disk has less than %llu MiB free: "
		               "exports would take the room recording needs",
		               CD_EXPORT_FREE_MIN / (1024 * 1024));
		goto out;
	}
	uint8_t idb[ID_BYTES];
	char loc[64];
	int rc = cu_random(idb, sizeof(idb));
	if (rc == 0) {
		cu_hex(idb, sizeof(idb), j->id);
		rc = cu_path(j->path, sizeof(j->path), "%s/%s.%s", x->dir, j->id,
		             extension(j->format, j->include_player));
		if (rc == 0 && j->include_player)
			rc = cu_path(j->pkg_path, sizeof(j->pkg_path), "%s/%s.cuep", x->dir, j->id);
		if (rc == 0)
			rc = cu_path(loc, sizeof(loc), "/api/v1/exports/%s", j->id);
	}
	j->created_us = cu_time_now_us();
	j->expires_us = j->created_us + CD_EXPORT_KEEP_US;
	/* no audit entry, no export */
	if (rc < 0 || (rc = audit_export(c, j)) < 0) {
		cd_call_reply_cu(c, rc, "logging the export");
		goto out;
	}
	cd_log(CD_INFO, "export %s by %s: %s of %zu camera(s), profile %s", j->id, j->user,
	       cu_auth_export_format_name(j->format), j->nranges, j->profile);
	pthread_attr_t attr;
	pthread_t tid;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&x->lock);
	j->next = x->jobs;
	x->jobs = j;
	x->njobs++;
	/* answered from what the thread cannot have changed yet: it waits for
	 * the lock before it can end */
	json_t *answer = job_json(j);
	/* signals are the main thread's (custodyd.c waits for them): an export
	 * thread must not take a SIGTERM, whose default action ends the process
	 * without the clean stop */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int err = pthread_create(&tid, &attr, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0)
		unlist(x, j);
	pthread_mutex_unlock(&x->lock);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		json_decref(answer);
		cd_log(CD_ERR, "export %s: cannot start a thread: %s", j->id, strerror(err));
		cu_fmt_cut(j->error, sizeof(j->error), "the export could not be started");
		audit_end(j, FAILED);
		cd_reply_error(r, 503, "busy", "the export could not be started");
		goto out;
	}
	j = NULL; /* the thread's now */
	reserved = false;
	cd_reply_header(r, "Location", loc);
	cd_call_reply_json(c, 202, answer);
out:
	if (reserved) {
		pthread_mutex_lock(&x->lock);
		x->running--;
		pthread_cond_broadcast(&x->idle);
		pthread_mutex_unlock(&x->lock);
	}
	/* the password, wherever it still is: parsed, or refused as too long */
	json_t *secret = json_object_get(o, "password");
	if (json_is_string(secret))
		cu_wipe((void *)(uintptr_t)json_string_value(secret), json_string_length(secret));
	cd_req_wipe_body(r);
	job_free(j);
	json_decref(o);
}

/* ---- the other endpoints ---- */

void
cd_export_list(struct call *c)
{
	struct cd_exports *x = c->a->exports;
	bool admin = is_admin(c);
	json_t *arr = json_array();
	if (x != NULL) {
		pthread_mutex_lock(&x->lock);
		for (struct job *j = x->jobs; j != NULL; j = j->next)
			if (!j->deleted && (admin || strcmp(j->user, c->user) == 0))
				json_array_append_new(arr, job_json(j));
		pthread_mutex_unlock(&x->lock);
	}
	cd_call_reply_json(c, 200, json_pack("{s:o}", "exports", arr));
}

void
cd_export_get(struct call *c)
{
	struct cd_exports *x = c->a->exports;
	const char *id = cd_call_seg(c, 1);
	bool admin = is_admin(c);
	json_t *o = NULL;
	if (x != NULL) {
		pthread_mutex_lock(&x->lock);
		struct job *j = find(x, id, c->user, admin);
		o = j ? job_json(j) : NULL;
		pthread_mutex_unlock(&x->lock);
	}
	if (o == NULL) {
		cd_reply_error(c->r, 404, "not_found", "no export \"%.40s\"", id);
		return;
	}
	cd_call_reply_json(c, 200, o);
}

void
cd_export_delete(struct call *c)
{
	struct cd_exports *x = c->a->exports;
	const char *id = cd_call_seg(c, 1);
	bool admin = is_admin(c), running = false, found = false;
	struct job *j = NULL;
	char path[PATH_MAX] = "", owner[CU_USER_NAME_MAX + 1] = "";
	if (x != NULL) {
		pthread_mutex_lock(&x->lock);
		if ((j = find(x, id, c->user, admin)) != NULL) {
			found = true;
			_Static_assert(sizeof(owner) == sizeof(j->user), "a user name fits");
			memcpy(owner, j->user, sizeof(owner));
			if (j->status == RUNNING) {
				/* its thread removes it when it stops */
				running = j->deleted = true;
				atomic_store(&j->cancel, true);
				j = NULL;
			} else {
				unlist(x, j);
				_Static_assert(sizeof(path) == sizeof(j->path), "a path fits");
				memcpy(path, j->path, sizeof(path));
			}
		}
		pthread_mutex_unlock(&x->lock);
	}
	if (!found) {
		cd_reply_error(c->r, 404, "not_found", "no export \"%.40s\"", id);
		return;
	}
	if (j != NULL) {
		remove_files(j);
		job_free(j);
	}
	cd_call_audit(c, "export.delete", json_pack("{s:s, s:s, s:b}", "id", id, "user", owner,
	                                             "was_running", running));
	cd_reply(c->r, 204, "", NULL, 0);
}

void
cd_export_file(struct call *c)
{
	struct cd_api *a = c->a;
	struct cd_exports *x = a->exports;
	struct cd_req *r = c->r;
	const char *id = cd_call_seg(c, 1);
	bool admin = is_admin(c);
	int status = -1;
	unsigned format = 0;
	bool folder = false;
	char path[PATH_MAX] = "", error[sizeof(((struct job *)0)->error)] = "";
	struct cu_pkg_range *ranges = NULL;
	size_t nranges = 0;
	uint8_t *buf = NULL;
	cu_sha256_ctx *h = NULL;
	int fd = -1;
	double progress = 0;
	if (x != NULL) {
		pthread_mutex_lock(&x->lock);
		struct job *j = find(x, id, c->user, admin);
		if (j != NULL && (ranges = malloc(sizeof(j->ranges))) != NULL) {
			status = j->status;
			format = j->format;
			folder = j->include_player;
			_Static_assert(sizeof(path) == sizeof(j->path), "a path fits");
			memcpy(path, j->path, sizeof(path));
			memcpy(error, j->error, sizeof(error)); /* declared as large */
			memcpy(ranges, j->ranges, sizeof(j->ranges));
			nranges = j->nranges;
			progress = j->total ? (double)j->done / (double)j->total : 0;
		}
		pthread_mutex_unlock(&x->lock);
	}
	if (status < 0) {
		cd_reply_error(r, 404, "not_found", "no export \"%.40s\"", id);
		goto out;
	}
	/* rights are read at every request: the owner must still have the
	 * export function on every camera of it */
	for (size_t i = 0; i < nranges && !admin; i++) {
		if (cu_auth_check(a->auth, c->user, CU_FN_EXPORT, ranges[i].camera) != 0) {
			cu_error_clear();
			cd_reply_error(r, 403, "forbidden", "you no longer have the export function on "
			               "camera %s", ranges[i].camera);
			goto out;
		}
	}
	if (status == RUNNING) {
		cd_reply_error(r, 409, "not_ready", "export %s is still running (%.0f%%)", id,
		               progress * 100);
		goto out;
	}
	if (status == FAILED) {
		cd_reply_error(r, 409, "failed", "export %s failed: %s", id, error);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cd_reply_error(r, 404, "not_found", "no export \"%.40s\"", id);
		goto out;
	}
	int rc = cd_stream_reserve(r);
	if (rc < 0) {
		cd_call_reply_cu(c, rc, "downloading the export");
		goto out;
	}
	if ((buf = malloc(FILE_CHUNK)) == NULL || cu_sha256_new(&h) < 0 || cu_sha256_init(h) < 0) {
		cd_reply_error(r, 503, "busy", "out of memory");
		goto out;
	}
	char disp[128];
	if ((rc = snprintf(disp, sizeof(disp), "attachment; filename=\"custody-%s.%s\"", id,
	                   extension(format, folder))) < 0 || (size_t)rc >= sizeof(disp)) {
		cd_call_reply_cu(c, cu_fail(CU_ERR_LIMIT, "the file name is too long"),
		                 "downloading the export");
		goto out;
	}
	cd_reply_header(r, "Content-Disposition", disp);
	if ((rc = cd_stream_begin(r, 200, content_type(format, folder))) < 0) {
		cd_call_reply_cu(c, rc, "downloading the export");
		goto out;
	}
	uint64_t sent = 0;
	bool ok = true;
	for (;;) {
		ssize_t n = read(fd, buf, FILE_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = n == 0;
			if (n < 0)
				cd_log(CD_ERR, "export %s: reading %s: %s", id, path, strerror(errno));
			break;
		}
		cu_sha256_update(h, buf, (size_t)n);
		if (cd_stream_write(r, buf, (size_t)n) < 0) {
			ok = false;
			break;
		}
		sent += (uint64_t)n;
	}
	uint8_t digest[CU_SHA256_LEN];
	char hex[2 * CU_SHA256_LEN + 1];
	cu_sha256_final(h, digest);
	cu_hex(digest, sizeof(digest), hex);
	cd_call_audit(c, "export.download", json_pack("{s:s, s:s, s:b, s:I, s:s, s:b}", "id", id,
	                                               "format", cu_auth_export_format_name(format),
	                                               "player", folder, "bytes", (json_int_t)sent,
	                                               "sha256", hex, "complete", ok));
	cd_stream_end(r, ok);
out:
	if (fd >= 0)
		close(fd);
	cu_sha256_free(h);
	free(buf);
	free(ranges);
}

void
cd_export_profiles(struct call *c)
{
	struct cu_export_profile *ps = NULL;
	size_t n = 0;
	int r = cu_auth_profiles_for_user(c->a->auth, c->user, &ps, &n);
	if (r < 0) {
		cd_call_reply_cu(c, r, "reading your export profiles");
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, profile_json(&ps[i]));
	cu_auth_profiles_free(ps, n);
	cd_call_reply_json(c, 200, json_pack("{s:o}", "profiles", arr));
}
