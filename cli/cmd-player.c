/* custody player PACKAGE: verifies an evidence package and shows it in a
 * browser, from a web server of its own on 127.0.0.1 (cli/player.c).
 *
 * The verified frames of each camera (cu_pkg_verify's on_frame hook: only
 * frames whose seal verified) become one MP4 per camera, in a private
 * temporary directory (0700, files 0600) that is removed when the player
 * stops (Ctrl-C, SIGTERM, SIGHUP). A camera that failed verification shows
 * only the footage before its first failed segment. The page shows both
 * verdicts (the recordings and the export signature), the case, comments,
 * exporter, time, gaps, audit entry; a package whose prevent-re-export flag
 * is set is played without download controls and without a download link.
 * docs/evidence-export.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "custody/mux.h"
#include "custody/package.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "player.h"
#include "custody/buf.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"

extern char **environ;

static const char help[] =
	"usage: custody player PACKAGE [--password-file F] [--port N] [--no-open]\n"
	"                      [--ca-fingerprint SHA256]\n"
	"Verifies an evidence package (both layers, as custody verify does), then shows it\n"
	"on a page served on 127.0.0.1 only, under a secret address printed here: the\n"
	"verdict for every camera and for the export signature, the case, comments,\n"
	"exporter, export time, gaps with their signed reasons, the audit entry, and a\n"
	"video per camera of the verified footage (footage after a failure is not shown).\n"
	"The package password comes from --password-file or the terminal. --port picks\n"
	"the port (default: any free one); --no-open does not start a browser.\n"
	"The decrypted footage lives in a private temporary directory while the player\n"
	"runs; Ctrl-C stops it and removes it. Exit 0 intact, 1 tampered or damaged,\n"
	"2 could not check.\n";

#define CMD "player"
#define PAGE_MAX (32u * 1024 * 1024)   /* the HTML page */
#define GAPS_SHOWN_MAX 500              /* gaps listed per camera on the page */
#define RES_MAX (3 + 2 * CU_PKG_CAMERAS_MAX)

/* The page's own script: reports each video's state into the page (the
 * tests read it back), and keeps the context menu off a video whose
 * package forbids re-export. */
static const char page_js[] =
	"\"use strict\";\n"
	"(function () {\n"
	"  function watch(v) {\n"
	"    var out = document.getElementById(\"state-\" + v.getAttribute(\"data-cam\"));\n"
	"    function show() {\n"
	"      var d = isFinite(v.duration) ? v.duration.toFixed(3) : \"\";\n"
	"      out.setAttribute(\"data-ready-state\", String(v.readyState));\n"
	"      out.setAttribute(\"data-duration\", d);\n"
	"      out.textContent = \"video loaded: readyState \" + v.readyState + \", \" +\n"
	"        (d ? d + \" s\" : \"length unknown\");\n"
	"    }\n"
	"    v.addEventListener(\"loadeddata\", show);\n"
	"    v.addEventListener(\"error\", function () {\n"
	"      out.setAttribute(\"data-error\", v.error ? String(v.error.code) : \"?\");\n"
	"      out.textContent = \"this browser could not play the video\";\n"
	"    });\n"
	"    if (v.hasAttribute(\"data-nodownload\"))\n"
	"      v.addEventListener(\"contextmenu\", function (e) { e.preventDefault(); });\n"
	"    if (v.readyState >= 2) show();\n"
	"  }\n"
	"  var vs = document.querySelectorAll(\"video[data-cam]\");\n"
	"  for (var i = 0; i < vs.length; i++) watch(vs[i]);\n"
	"})();\n";

static const char page_css[] =
	"body{font-family:sans-serif;margin:0 auto;max-width:70em;padding:1em;color:#111}\n"
	".verdict{padding:.8em 1em;font-size:1.3em;font-weight:bold;border-radius:4px}\n"
	".ok{background:#e3f4e3;color:#0a5a0a}\n"
	".bad{background:#fde2e2;color:#b00000}\n"
	".flag{border:2px solid #b36b00;padding:.6em;background:#fff4e0}\n"
	"table.facts{border-collapse:collapse;margin:1em 0}\n"
	"table.facts th{text-align:left;vertical-align:top;padding:.3em 1em .3em 0}\n"
	"table.facts td{padding:.3em 0}\n"
	".pre{white-space:pre-wrap}\n"
	".mono{font-family:monospace;word-break:break-all}\n"
	"section.camera{border-top:1px solid #ccc;margin-top:1.5em}\n"
	"video{max-width:100%;background:#000}\n"
	".state{color:#555;font-size:.9em}\n";

static const char page_csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; media-src 'self'; "
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct vid {
	char name[CU_CAMERA_NAME_MAX + 1];
	char path[PATH_MAX];          /* the finished MP4 */
	cu_mp4 *m;
	bool done;                    /* finished: path exists when ready */
	bool ready;
	bool rebuild;                 /* second pass: this camera is built again */
	int64_t cut_us;               /* second pass: frames from here are left out */
	int64_t last_ts;              /* latest frame time handed to the writer */
	char error[256];              /* why there is no video ("" none) */
	struct cu_mp4_info info;
};

struct player {
	char dir[PATH_MAX];
	struct vid vids[CU_PKG_CAMERAS_MAX];
	size_t nvids;
	struct vid *cur;
	bool second;                  /* the rebuilding pass */
	unsigned gen;                 /* file generation, so a rebuild never reuses a name */
};

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- MP4s from the verified frames ---- */

static void
vid_finish(struct vid *v)
{
	if (v->m == NULL || v->done)
		return;
	int r = cu_mp4_finish(v->m);
	cu_mp4_info(v->m, &v->info);
	if (r == 0)
		v->ready = true;
	else if (r == CU_ERR_NOTFOUND)
		cu_fmt_cut(v->error, sizeof(v->error), "no video key frame was verified");
	else
		cu_fmt_cut(v->error, sizeof(v->error), "the video could not be written: %s",
		           cu_error_detail()[0] ? cu_error_detail() : cu_strerror(r));
	cu_mp4_free(v->m);
	v->m = NULL;
	v->done = true;
}

static int
vid_open(struct player *p, struct vid *v)
{
	size_t idx = (size_t)(v - p->vids);
	if (cu_path(v->path, sizeof(v->path), "%s/camera-%zu-%u.mp4", p->dir, idx, p->gen) < 0)
		return CU_ERR_LIMIT;
	struct cu_mp4_opts o = {.fragmented = false, .path = v->path, .camera = v->name};
	if (cu_camera_name_check(v->name) < 0) {
		cu_error_clear();
		o.camera = NULL;
	}
	return cu_mp4_new(&o, &v->m);
}

static int
on_frame(void *ctx, const char *camera, const cu_frame *f)
{
	struct player *p = ctx;
	if (stop)
		return CU_ERR_CANCELLED;
	struct vid *v = NULL;
	for (size_t i = 0; i < p->nvids && v == NULL; i++)
		if (strcmp(p->vids[i].name, camera) == 0)
			v = &p->vids[i];
	if (v == NULL) {
		if (p->second || p->nvids == CU_PKG_CAMERAS_MAX ||
		    strlen(camera) > CU_CAMERA_NAME_MAX)
			return 0;
		v = &p->vids[p->nvids++];
		memcpy(v->name, camera, strlen(camera) + 1);
		v->last_ts = INT64_MIN;
		v->cut_us = -1;
	}
	if (p->second && (!v->rebuild || f->ts_us >= v->cut_us))
		return 0;
	if (v != p->cur) {
		/* cameras come one after the other */
		if (p->cur != NULL)
			vid_finish(p->cur);
		p->cur = v;
	}
	if (v->done)
		return 0;
	if (v->m == NULL) {
		int r = vid_open(p, v);
		if (r < 0) {
			cu_fmt_cut(v->error, sizeof(v->error), "the video could not be started: %s",
			           cu_error_detail());
			v->done = true;
			return 0;
		}
	}
	int r = cu_mp4_frame(v->m, f);
	if (r >= 0 || r == CU_ERR_FORMAT || r == CU_ERR_UNSUPPORTED || r == CU_ERR_INVAL ||
	    r == CU_ERR_LIMIT) {
		/* a frame the file cannot take is left out; the writer goes on */
		if (f->ts_us > v->last_ts)
			v->last_ts = f->ts_us;
		return 0;
	}
	cu_fmt_cut(v->error, sizeof(v->error), "the video could not be written: %s",
	           cu_error_detail());
	cu_mp4_free(v->m);
	v->m = NULL;
	v->done = true;
	return 0;
}

static void
player_reset(void *ctx)
{
	struct player *p = ctx;
	for (size_t i = 0; i < p->nvids; i++) {
		cu_mp4_free(p->vids[i].m);
		if (p->vids[i].ready)
			unlink(p->vids[i].path);
	}
	memset(p->vids, 0, sizeof(p->vids));
	p->nvids = 0;
	p->cur = NULL;
	p->gen++;
}

/* Removes everything in the private directory, then the directory. */
static void
remove_dir(const char *dir)
{
	if (dir[0] == '\0')
		return;
	DIR *d = opendir(dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		fprintf(stderr, "custody player: could not remove %s: %s\n", dir, strerror(errno));
}

static int
make_dir(struct player *p)
{
	const char *base = getenv("TMPDIR");
	if (base == NULL || base[0] != '/')
		base = "/tmp";
	if (cu_path(p->dir, sizeof(p->dir), "%s/custody-player-XXXXXX", base) < 0) {
		fprintf(stderr, "custody player: TMPDIR is too long\n");
		p->dir[0] = '\0';
		return EXIT_ERROR;
	}
	if (mkdtemp(p->dir) == NULL) {
		fprintf(stderr, "custody player: cannot make a private directory in %s: %s\n", base,
		        strerror(errno));
		p->dir[0] = '\0';
		return EXIT_ERROR;
	}
	/* mkdtemp makes it 0700; say so rather than trust it */
	if (chmod(p->dir, 0700) < 0) {
		fprintf(stderr, "custody player: %s: %s\n", p->dir, strerror(errno));
		return EXIT_ERROR;
	}
	return 0;
}

/* ---- the page ---- */

struct page {
	cu_buf b;
	bool failed;
};

static void
raw(struct page *pg, const char *s)
{
	if (!pg->failed && cu_buf_append(&pg->b, s, strlen(s)) < 0)
		pg->failed = true;
}

static void __attribute__((format(printf, 2, 3)))
rawf(struct page *pg, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		pg->failed = true;
	else
		raw(pg, buf);
}

/* Text from the package, escaped for HTML; what the rule for text refuses
 * (cu_text_char_ok: control and bidi characters) and bytes that are not
 * UTF-8 become U+FFFD (line breaks and tabs kept). */
static void
text(struct page *pg, const char *s)
{
	const uint8_t *p = (const uint8_t *)(s != NULL ? s : "");
	size_t len = strlen((const char *)p);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = cu_utf8_next(p + i, len - i, &cp);
		if (n == 0) {
			raw(pg, "\xef\xbf\xbd");
			i++;
			continue;
		}
		switch (cp) {
		case '&': raw(pg, "&amp;"); break;
		case '<': raw(pg, "&lt;"); break;
		case '>': raw(pg, "&gt;"); break;
		case '"': raw(pg, "&quot;"); break;
		case '\'': raw(pg, "&#39;"); break;
		case '\n': raw(pg, "\n"); break;
		case '\t': raw(pg, "\t"); break;
		default:
			if (!cu_text_char_ok(cp, CU_TEXT_MULTILINE)) {
				raw(pg, "\xef\xbf\xbd");
			} else if (!pg->failed && cu_buf_append(&pg->b, p + i, n) < 0) {
				pg->failed = true;
			}
		}
		i += n;
	}
}

static void
time_text(struct page *pg, int64_t us)
{
	char t[CU_TIME_ISO_MAX];
	cu_time_text(us, t);
	raw(pg, t);
}

static void
cert_row(struct page *pg, const char *label, const char *id, const char *subject,
         const uint8_t fp[static CU_SHA256_LEN], const char *note)
{
	char hex[96];
	cu_x509_fingerprint_hex(fp, hex, sizeof(hex));
	rawf(pg, "<tr><th>%s</th><td id=\"%s\">", label, id);
	text(pg, subject);
	raw(pg, "<br><span class=\"mono\">SHA-256 ");
	raw(pg, hex);
	raw(pg, "</span>");
	if (note != NULL)
		raw(pg, note);
	raw(pg, "</td></tr>\n");
}

static const char *
kind_word(int kind)
{
	static const char *const names[] = {"?", "start", "stop", "gap", "restart", "retention"};
	return kind >= 1 && kind <= 5 ? names[kind] : "?";
}

/* A download link only for an intact package without the flag: one that
 * failed verification may have had its flag removed. */
static bool
downloads_allowed(const struct cu_pkg_report *rep)
{
	return rep->status == CU_PKG_INTACT && !rep->prevent_reexport;
}

static struct vid *
vid_of(struct player *p, const char *name)
{
	for (size_t i = 0; i < p->nvids; i++)
		if (strcmp(p->vids[i].name, name) == 0)
			return &p->vids[i];
	return NULL;
}

/* The signed event records (tamper, camera events) as periods. */
static void
event_list(struct page *pg, const struct cu_pkg_camera_report *c)
{
	struct cu_event_period *ev = NULL;
	size_t n = 0;
	if (cu_event_periods(c->gaps, c->ngaps, &ev, &n) < 0 || n == 0) {
		free(ev);
		return;
	}
	raw(pg, "<h3>Events in the footage (signed records)</h3>\n<ul class=\"events\">\n");
	for (size_t i = 0; i < n && i < GAPS_SHOWN_MAX; i++) {
		raw(pg, "<li>");
		text(pg, ev[i].type);
		raw(pg, " (");
		text(pg, ev[i].source);
		rawf(pg, ", %s) ", cu_event_severity_name(ev[i].severity));
		if (ev[i].from_us >= 0)
			time_text(pg, ev[i].from_us);
		else
			raw(pg, "before the range");
		raw(pg, " to ");
		if (ev[i].to_us >= 0)
			time_text(pg, ev[i].to_us);
		else
			raw(pg, "not cleared");
		raw(pg, ": ");
		text(pg, ev[i].detail);
		raw(pg, "</li>\n");
	}
	raw(pg, "</ul>\n");
	free(ev);
}

static void
camera_section(struct page *pg, struct player *p, const struct cu_pkg_report *rep, size_t i)
{
	const struct cu_pkg_camera_report *c = &rep->cameras[i];
	struct vid *v = vid_of(p, c->name);
	rawf(pg, "<section class=\"camera\" id=\"camera-%zu\" data-result=\"%s\">\n<h2>Camera ", i,
	     c->tampered ? "tampered" : c->checked ? "intact" : "not_checked");
	text(pg, c->name);
	raw(pg, c->tampered ? ": <span class=\"bad\">TAMPERED</span></h2>\n"
	        : c->checked ? ": <span class=\"ok\">intact</span></h2>\n"
	                     : ": <span class=\"bad\">not checked</span> (the package failed "
	                       "before its footage could be checked)</h2>\n");
	raw(pg, "<p>Exported range ");
	time_text(pg, c->from_us);
	raw(pg, " to ");
	time_text(pg, c->to_us);
	rawf(pg, "; verified: %llu frames, %llu seals, %llu segments%s.</p>\n",
	     (unsigned long long)c->frames, (unsigned long long)c->seals,
	     (unsigned long long)c->segments, c->tampered ? " before the failure" : "");
	if (c->tampered) {
		raw(pg, "<p class=\"bad\" id=\"failure-");
		rawf(pg, "%zu\">The first failed segment starts at ", i);
		time_text(pg, c->fail_time_us);
		raw(pg, ": ");
		text(pg, c->fail_reason);
		raw(pg, ". The video below holds only the footage verified before that time.</p>\n");
	}
	if (v != NULL && v->ready) {
		rawf(pg, "<video id=\"video-%zu\" data-cam=\"%zu\" controls preload=\"auto\" "
		     "src=\"video/%zu.mp4\"", i, i, i);
		if (!downloads_allowed(rep))
			raw(pg, " controlslist=\"nodownload noremoteplayback\" disablepictureinpicture "
			    "disableremoteplayback data-nodownload");
		raw(pg, "></video>\n");
		rawf(pg, "<p class=\"state\" id=\"state-%zu\">loading the video…</p>\n", i);
		rawf(pg, "<p>Video: %llu frames%s, %dx%d, from ",
		     (unsigned long long)v->info.video_frames, v->info.audio ? " with sound" : "",
		     v->info.width, v->info.height);
		time_text(pg, v->info.first_us);
		raw(pg, " to ");
		time_text(pg, v->info.last_us);
		raw(pg, " (recorded times, UTC).");
		if (downloads_allowed(rep))
			rawf(pg, " <a href=\"download/%zu.mp4\" id=\"download-%zu\">Download this "
			     "video (MP4)</a> — a copy of the pictures only, without the "
			     "signatures.", i, i);
		raw(pg, "</p>\n");
	} else {
		rawf(pg, "<p class=\"state\" id=\"state-%zu\">No video to show: ", i);
		text(pg, v == NULL ? "no frame of this camera was verified"
		                   : v->error[0] ? v->error : "no frame was verified");
		raw(pg, ".</p>\n");
	}
	event_list(pg, c);
	size_t nevents = 0;
	for (size_t g = 0; g < c->ngaps; g++)
		nevents += cli_gap_is_event(&c->gaps[g]);
	if (c->ngaps > nevents) {
		raw(pg, "<h3>Gaps, restarts and retention (signed records)</h3>\n<ul>\n");
		for (size_t g = 0, shown = 0; g < c->ngaps && shown < GAPS_SHOWN_MAX; g++) {
			if (cli_gap_is_event(&c->gaps[g]))
				continue;
			shown++;
			rawf(pg, "<li>%s ", kind_word(c->gaps[g].kind));
			time_text(pg, c->gaps[g].from_us);
			raw(pg, " to ");
			time_text(pg, c->gaps[g].to_us);
			raw(pg, ": ");
			text(pg, c->gaps[g].reason);
			raw(pg, "</li>\n");
		}
		if (c->ngaps - nevents > GAPS_SHOWN_MAX)
			rawf(pg, "<li>… and %zu more (custody verify PACKAGE lists them all)</li>\n",
			     c->ngaps - nevents - GAPS_SHOWN_MAX);
		raw(pg, "</ul>\n");
	} else {
		raw(pg, "<p>No gaps recorded in this range.</p>\n");
	}
	raw(pg, "</section>\n");
}

static void
facts_table(struct page *pg, const char *path, const struct cu_pkg_report *rep, bool pinned)
{
	raw(pg, "<table class=\"facts\">\n<tr><th>File</th><td class=\"mono\">");
	text(pg, path);
	raw(pg, "</td></tr>\n<tr><th>Case</th><td id=\"case\">");
	text(pg, rep->case_ref);
	raw(pg, "</td></tr>\n<tr><th>Comments</th><td id=\"comments\" class=\"pre\">");
	text(pg, rep->comments);
	raw(pg, "</td></tr>\n<tr><th>Exported by</th><td id=\"exporter\">");
	text(pg, rep->exporter);
	raw(pg, "</td></tr>\n<tr><th>Export time</th><td id=\"exported\">");
	time_text(pg, rep->exported_us);
	raw(pg, "</td></tr>\n<tr><th>Export profile</th><td id=\"profile\">");
	text(pg, rep->profile);
	rawf(pg, "</td></tr>\n<tr><th>Export signature</th><td id=\"export-signature\" "
	     "class=\"%s\">%s</td></tr>\n", rep->export_signature_ok ? "ok" : "bad",
	     rep->export_signature_ok ? "valid: the manifest (case, comments, exporter, time, "
	                                "cameras, file hashes) is what the server signed"
	                              : "INVALID");
	cert_row(pg, "Exporting server", "exporter-cert", rep->export_signer,
	         rep->export_signer_fp, NULL);
	cert_row(pg, "Recording server", "recorder-cert", rep->recorder, rep->recorder_fp, NULL);
	cert_row(pg, "Site CA", "site-ca", rep->site_ca, rep->site_ca_fp,
	         !pinned ? " (not pinned: compare it with the site's published fingerprint)"
	         : rep->ca_mismatch ? " <span class=\"bad\">DIFFERS from the fingerprint given "
	                              "with --ca-fingerprint</span>"
	                            : " (matches --ca-fingerprint)");
	rawf(pg, "<tr><th>Certificates</th><td id=\"chain\" class=\"%s\">%s</td></tr>\n",
	     rep->chain_ok ? "ok" : "bad",
	     rep->chain_ok ? "both servers' certificates chain to the site CA"
	                   : "DO NOT chain to the site CA");
	raw(pg, "<tr><th>Audit log</th><td id=\"audit\">");
	if (rep->audit_index >= 0) {
		rawf(pg, "entry %lld, under a signed tree head of %llu entries of ",
		     (long long)rep->audit_index, (unsigned long long)rep->audit_head_size);
		time_text(pg, rep->audit_head_time_us);
		rawf(pg, ": head signature <span class=\"%s\">%s</span>",
		     rep->audit_head_ok ? "ok" : "bad", rep->audit_head_ok ? "valid" : "INVALID");
	} else {
		raw(pg, "none recorded with the export");
	}
	rawf(pg, "</td></tr>\n<tr><th>Encryption</th><td>%s</td></tr>\n</table>\n",
	     rep->encrypted ? "AES-256-GCM under the package password" : "none (signed only)");
}

static int
build_page(struct page *pg, struct player *p, const char *path,
           const struct cu_pkg_report *rep, bool pinned)
{
	raw(pg, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n<title>custody player: ");
	text(pg, rep->case_ref[0] ? rep->case_ref : "evidence package");
	raw(pg, "</title>\n<link rel=\"stylesheet\" href=\"page.css\">\n</head>\n<body>\n");
	switch (rep->status) {
	case CU_PKG_INTACT:
		raw(pg, "<div id=\"verdict\" class=\"verdict ok\" data-result=\"intact\">Verified: "
		    "intact. The footage is what the recording server recorded, and the package "
		    "is what the server exported.</div>\n");
		break;
	case CU_PKG_DAMAGED:
		raw(pg, "<div id=\"verdict\" class=\"verdict bad\" data-result=\"damaged\">DAMAGED: "
		    "this package failed verification: ");
		text(pg, rep->reason);
		if (rep->damaged_offset >= 0)
			rawf(pg, " (from byte %lld of the file)", (long long)rep->damaged_offset);
		raw(pg, ". Only footage verified before the damage is shown.</div>\n");
		break;
	default:
		raw(pg, "<div id=\"verdict\" class=\"verdict bad\" data-result=\"tampered\">TAMPERED: "
		    "this package failed verification: ");
		text(pg, rep->reason);
		raw(pg, ". Only footage verified before the failure is shown.</div>\n");
		break;
	}
	if (rep->prevent_reexport)
		raw(pg, "<p class=\"flag\" id=\"reexport\">Re-export is prevented: this package's "
		    "signed prevent-re-export flag is set. custody will not re-export, convert or "
		    "extract it, and this page offers no download. The footage is here to be "
		    "viewed.</p>\n");
	raw(pg, "<h1>Evidence package</h1>\n");
	if (rep->ncameras > 0 || rep->exporter[0] != '\0')
		facts_table(pg, path, rep, pinned);
	else
		raw(pg, "<p id=\"unknown\">The package could not be read far enough to know its "
		    "case, exporter or cameras.</p>\n");
	for (size_t i = 0; i < rep->ncameras; i++)
		camera_section(pg, p, rep, i);
	if (rep->ncameras == 0)
		raw(pg, "<p>No camera could be read from the package.</p>\n");
	raw(pg, "<script src=\"page.js\"></script>\n</body>\n</html>\n");
	if (pg->failed) {
		fprintf(stderr, "custody player: the page is larger than %u bytes\n", PAGE_MAX);
		return EXIT_ERROR;
	}
	return 0;
}

/* ---- the browser ---- */

/* Starts the desktop's browser on a local file that redirects to the page,
 * so the secret address is not on any command line (which other users of
 * the machine can read). */
static void
open_browser(const struct player *p, const char *url, pid_t *ret_pid)
{
	if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL)
		return;
	char file[PATH_MAX], html[512];
	if (cu_path(file, sizeof(file), "%s/open.html", p->dir) < 0)
		return;
	int n = snprintf(html, sizeof(html), "<!DOCTYPE html>\n<meta charset=\"utf-8\">\n"
	                 "<meta http-equiv=\"refresh\" content=\"0;url=%s\">\n<title>custody "
	                 "player</title>\n<a href=\"%s\">Open the player</a>\n", url, url);
	if (n < 0 || (size_t)n >= sizeof(html) ||
	    cu_file_write_atomic(file, html, (size_t)n, 0600, 0) < 0) {
		cu_error_clear();
		return;
	}
	char prog[] = "xdg-open";
	char *argv[] = {prog, file, NULL};
	pid_t pid;
	if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) == 0)
		*ret_pid = pid;
}

/* ---- the command ---- */

static void
print_summary(const struct cu_pkg_report *rep)
{
	static const char *const verdicts[] = {"intact", "TAMPERED", "WRONG PASSWORD", "DAMAGED"};
	printf("package: %s", rep->status >= 0 && rep->status <= 3 ? verdicts[rep->status] : "?");
	if (rep->status != CU_PKG_INTACT && rep->reason[0] != '\0') {
		printf(": ");
		cli_print_safe(stdout, rep->reason, "  ");
	}
	printf("\n  export signature %s%s\n", rep->export_signature_ok ? "valid" : "INVALID",
	       rep->prevent_reexport ? "; re-export prevented" : "");
	for (size_t i = 0; i < rep->ncameras; i++) {
		printf("  camera ");
		cli_print_safe(stdout, rep->cameras[i].name, NULL);
		printf(": %s\n", rep->cameras[i].tampered ? "TAMPERED"
		                  : rep->cameras[i].checked ? "intact" : "not checked");
	}
}

int
cmd_player(int argc, char **argv)
{
	static const struct option opts[] = {
		{"password-file", required_argument, NULL, 'p'},
		{"port", required_argument, NULL, 'P'},
		{"no-open", no_argument, NULL, 'n'},
		{"ca-fingerprint", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	const char *pwfile = NULL;
	uint64_t port = 0;
	bool no_open = false;
	uint8_t pinbuf[CU_SHA256_LEN];
	const uint8_t *pin = NULL;
	int c;
	while ((c = cli_next_option(argc, argv, opts)) != -1) {
		switch (c) {
		case 'p': pwfile = optarg; break;
		case 'n': no_open = true; break;
		case 'P':
			if (cu_parse_u64(optarg, 65535, "--port", &port) < 0)
				return cli_usage(CMD, "--port: a port number 1 to 65535 (0: any free one)");
			break;
		case 'F':
			if (cu_parse_fingerprint(optarg, pinbuf) < 0)
				return cli_usage(CMD, "--ca-fingerprint: expected 32 bytes of hex, with "
				                 "or without ':' between every two");
			pin = pinbuf;
			break;
		case 'h': fputs(help, stdout); return 0;
		default:
			return cli_bad_option(CMD, argv);
		}
	}
	if (optind == argc)
		return cli_usage(CMD, "give the PACKAGE to play");
	if (optind + 1 != argc)
		return cli_usage(CMD, "unexpected argument \"%s\"", argv[optind + 1]);
	const char *path = argv[optind];

	struct player *p = calloc(1, sizeof(*p));
	struct cu_pkg_report *rep = NULL;
	struct cli_password pw = {0};
	struct pl_server *srv = NULL;
	struct page pg = {0};
	pid_t browser = -1;
	int rc = EXIT_ERROR, r;
	if (p == NULL) {
		fprintf(stderr, "custody player: out of memory\n");
		return EXIT_ERROR;
	}
	cu_buf_init(&pg.b, PAGE_MAX);
	/* everything the player writes is for this user only */
	umask(077);
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (make_dir(p) != 0)
		goto out;

	if (cli_pkg_verify(CMD, path, pwfile, pin, on_frame, p, player_reset, &rep, &pw) != 0) {
		if (stop)
			fprintf(stderr, "custody player: stopped\n");
		goto out;
	}
	if (p->cur != NULL)
		vid_finish(p->cur);
	if (stop) {
		fprintf(stderr, "custody player: stopped\n");
		goto out;
	}
	if (rep->status == CU_PKG_WRONG_PASSWORD) {
		fprintf(stderr, "custody player: %s: wrong password (the package's header is intact; "
		        "the password given does not open it)\n", path);
		goto out;
	}

	/* a camera that failed: only what was verified before its first failed
	 * segment, so its video is made again, without the frames from there */
	bool again = false;
	for (size_t i = 0; i < rep->ncameras; i++) {
		const struct cu_pkg_camera_report *cr = &rep->cameras[i];
		struct vid *v = vid_of(p, cr->name);
		if (!cr->tampered || v == NULL)
			continue;
		if (cr->fail_time_us < 0) {
			/* no time to cut at: show nothing of it */
			if (v->ready)
				unlink(v->path);
			v->ready = false;
			cu_fmt_cut(v->error, sizeof(v->error), "the camera failed verification at a "
			           "time that is not known");
		} else if (v->last_ts >= cr->fail_time_us) {
			if (v->ready)
				unlink(v->path);
			*v = (struct vid){.rebuild = true, .cut_us = cr->fail_time_us,
			                  .last_ts = INT64_MIN};
			_Static_assert(sizeof(v->name) == sizeof(cr->name), "a camera name fits");
			memcpy(v->name, cr->name, sizeof(v->name));
			again = true;
		}
	}
	if (again) {
		struct cu_pkg_report *rep2 = NULL;
		p->second = true;
		p->cur = NULL;
		p->gen++;
		struct cli_progress prog;
		cli_progress_init(&prog, "preparing");
		struct cu_pkg_verify_opts o = {.password = pw.buf, .password_len = pw.len,
		                               .ca_fingerprint = pin, .on_frame = on_frame,
		                               .frame_ctx = p};
		r = cu_pkg_verify(path, &o, &rep2);
		cli_progress_done(&prog);
		cu_pkg_report_free(rep2);
		if (p->cur != NULL)
			vid_finish(p->cur);
		if (stop || r < 0) {
			if (!stop)
				cli_fail(CMD, r, "the package could not be read again");
			goto out;
		}
	}
	cli_password_free(&pw);

	if (build_page(&pg, p, path, rep, pin != NULL) != 0)
		goto out;
	struct pl_resource res[RES_MAX];
	char names[CU_PKG_CAMERAS_MAX][2][48];
	char disp[CU_PKG_CAMERAS_MAX][128];
	size_t nres = 0;
	res[nres++] = (struct pl_resource){.path = "", .content_type = "text/html; charset=utf-8",
	                                   .csp = page_csp, .data = pg.b.data, .len = pg.b.len};
	res[nres++] = (struct pl_resource){.path = "page.js",
	                                   .content_type = "text/javascript; charset=utf-8",
	                                   .data = (const uint8_t *)page_js,
	                                   .len = sizeof(page_js) - 1};
	res[nres++] = (struct pl_resource){.path = "page.css",
	                                   .content_type = "text/css; charset=utf-8",
	                                   .data = (const uint8_t *)page_css,
	                                   .len = sizeof(page_css) - 1};
	for (size_t i = 0; i < rep->ncameras; i++) {
		struct vid *v = vid_of(p, rep->cameras[i].name);
		if (v == NULL || !v->ready)
			continue;
		if ((r = cu_path(names[i][0], sizeof(names[i][0]), "video/%zu.mp4", i)) < 0) {
			cli_fail(CMD, r, "cannot name the video");
			goto out;
		}
		res[nres++] = (struct pl_resource){.path = names[i][0], .content_type = "video/mp4",
		                                   .disposition = "inline", .file = v->path};
		if (!downloads_allowed(rep))
			continue;
		/* a file name of safe characters only */
		char safe[CU_CAMERA_NAME_MAX + 1];
		size_t k = 0;
		for (const char *q = v->name; *q != '\0' && k < CU_CAMERA_NAME_MAX; q++)
			safe[k++] = (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                    "0123456789._-", *q) != NULL) ? *q : '_';
		safe[k] = '\0';
		if ((r = cu_path(names[i][1], sizeof(names[i][1]), "download/%zu.mp4", i)) < 0) {
			cli_fail(CMD, r, "cannot name the download");
			goto out;
		}
		int n = snprintf(disp[i], sizeof(disp[i]), "attachment; filename=\"custody-%s.mp4\"",
		                 safe);
		if (n < 0 || (size_t)n >= sizeof(disp[i])) { /* a header: never cut */
			cli_fail(CMD, cu_fail(CU_ERR_LIMIT, "Content-Disposition too long"),
			         "cannot name the download");
			goto out;
		}
		res[nres++] = (struct pl_resource){.path = names[i][1], .content_type = "video/mp4",
		                                   .disposition = disp[i], .file = v->path};
	}

	if ((r = pl_server_new((uint16_t)port, &srv)) < 0) {
		cli_fail(CMD, r, "cannot serve on 127.0.0.1");
		goto out;
	}
	char url[128];
	if ((r = cu_path(url, sizeof(url), "http://127.0.0.1:%u/%s/", (unsigned)pl_server_port(srv),
	                 pl_server_prefix(srv))) < 0) {
		cli_fail(CMD, r, "cannot make the player's address");
		goto out;
	}
	print_summary(rep);
	printf("custody player: serving the package on this machine only, at\n  %s\n"
	       "(only this address works; Ctrl-C stops the player and removes the decrypted "
	       "footage)\n", url);
	fflush(stdout);
	if (!no_open)
		open_browser(p, url, &browser);
	cu_wipe(url, sizeof(url));

	sigset_t block, waitmask;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGHUP);
	r = pl_server_run(srv, res, nres, &stop, &waitmask);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	if (r < 0) {
		cli_fail(CMD, r, "the web server failed");
		goto out;
	}
	fprintf(stderr, "custody player: stopped; the decrypted footage is removed\n");
	rc = cli_pkg_exit_code(rep);
out:
	cli_password_free(&pw);
	pl_server_free(srv);
	for (size_t i = 0; i < p->nvids; i++)
		cu_mp4_free(p->vids[i].m);
	remove_dir(p->dir);
	if (browser > 0)
		waitpid(browser, NULL, WNOHANG);
	cu_buf_free(&pg.b);
	cu_pkg_report_free(rep);
	free(p);
	return rc;
}
