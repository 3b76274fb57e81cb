/* custody export --server: an evidence package through a recording server's
 * API (log in, POST exports, poll, download, log out), with api-client.c. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "custody/audit.h"
#include "custody/auth.h"
#include "custody/crypto.h"
#include "custody/package.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/buf.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"
#include "api-client.h"
#include "export.h"

static volatile sig_atomic_t interrupted;
static atomic_bool unpack_stop;         /* set with interrupted: stops an unpack */

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
	atomic_store(&unpack_stop, true); /* lock-free: safe in a handler */
}

struct download {
	int fd;
	cu_sha256_ctx *h;
	uint64_t bytes, expected;
	int err;                                /* errno of a failed write */
	struct cli_progress prog;
};

static size_t
on_file_data(char *data, size_t size, size_t n, void *ctx)
{
	struct download *d = ctx;
	size_t len = size * n;
	if (d->bytes + len > d->expected) {
		d->err = EFBIG;
		return 0;
	}
	if (cu_write_all(d->fd, data, len, "--out") < 0) {
		d->err = errno ? errno : EIO;
		return 0;
	}
	cu_sha256_update(d->h, data, len);
	d->bytes += len;
	return len;
}

static int
on_file_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t uln)
{
	struct download *d = ctx;
	(void)dltotal, (void)ult, (void)uln;
	cli_progress_update(&d->prog, (uint64_t)dlnow, d->expected);
	return interrupted ? 1 : 0;
}

/* Downloads exports/{id}/file into --out (through <out>.tmp, fsync'd, and
 * renamed without replacing anything), checking its size and SHA-256
 * against the server's. */
static int
api_download(struct api *a, const char *id, const char *out, uint64_t bytes,
             const char *sha_hex)
{
	char url[URL_MAX + 256], errbuf[CURL_ERROR_SIZE] = "";
	int rc = EXIT_ERROR;
	struct download d = {.fd = -1, .expected = bytes};
	struct curl_slist *h = NULL;
	cu_afile af;
	if (cu_path(url, sizeof(url), "%s/api/v1/exports/%s/file", a->base, id) < 0) {
		fprintf(stderr, "custody export: --out: the path is too long\n");
		return EXIT_ERROR;
	}
	if (cu_afile_open(&af, out, 0600, 0) < 0) {
		fprintf(stderr, "custody export: --out: %s\n", cu_error_detail());
		return EXIT_ERROR;
	}
	d.fd = af.fd;
	if (cu_sha256_new(&d.h) < 0 || cu_sha256_init(d.h) < 0 ||
	    (h = cli_api_auth_headers(a, false)) == NULL) {
		fprintf(stderr, "custody export: out of memory\n");
		goto out;
	}
	cli_progress_init(&d.prog, "downloading");
	cli_api_reset(a);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(a->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(a->curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(a->curl, CURLOPT_LOW_SPEED_TIME, STALL_S);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, on_file_data);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, on_file_progress);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, &d);
	CURLcode cc = curl_easy_perform(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, NULL);
	cli_progress_done(&d.prog);
	long status = 0;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if (interrupted) {
		fprintf(stderr, "custody export: interrupted\n");
		goto out;
	}
	if (cc != CURLE_OK) {
		if (d.err != 0)
			fprintf(stderr, "custody export: --out %s: %s\n", af.tmp,
			        d.err == EFBIG ? "the server sent more bytes than the export has"
			                       : strerror(d.err));
		else if (cc == CURLE_HTTP_RETURNED_ERROR)
			fprintf(stderr, "custody export: --server: download: HTTP %ld\n", status);
		else
			cli_api_complain("download", status, NULL, cc, errbuf);
		goto out;
	}
	uint8_t digest[CU_SHA256_LEN];
	char hex[2 * CU_SHA256_LEN + 1];
	cu_sha256_final(d.h, digest);
	cu_hex(digest, sizeof(digest), hex);
	if (d.bytes != bytes || (sha_hex != NULL && strcmp(hex, sha_hex) != 0)) {
		fprintf(stderr, "custody export: the download is not the file the server made "
		        "(%llu of %llu bytes, SHA-256 %s, expected %s): nothing was kept\n",
		        (unsigned long long)d.bytes, (unsigned long long)bytes, hex,
		        sha_hex ? sha_hex : "-");
		goto out;
	}
	if (cu_afile_commit(&af) < 0) {
		fprintf(stderr, "custody export: --out: %s\n", cu_error_detail());
		goto out;
	}
	rc = 0;
out:
	cli_slist_free_wiped(h);
	cu_sha256_free(d.h);
	cu_afile_abort(&af); /* after a commit: nothing to do */
	return rc;
}

static char *
export_body(const struct args *a, const struct cli_password *ppw)
{
	json_t *b = json_pack("{s:s, s:o, s:s, s:s}", "format", "evidence", "cameras",
	                      cli_export_ranges_json(a), "case", a->case_ref, "comments", a->comments);
	if (b == NULL)
		return NULL;
	if (a->profile != NULL)
		json_object_set_new(b, "profile", json_string(a->profile));
	if (a->no_encryption) {
		json_object_set_new(b, "encrypt", json_false());
	} else {
		json_object_set_new(b, "encrypt", json_true());
		json_object_set_new(b, "password", json_stringn(ppw->buf, ppw->len));
	}
	/* not given: the profile decides (a locked setting is never asked otherwise) */
	if (a->prevent_reexport)
		json_object_set_new(b, "prevent_reexport", json_true());
	/* always said: what arrives must be what --out was named for, a file or a
	 * folder (a profile that locks it otherwise refuses, naming the setting) */
	json_object_set_new(b, "include_player", json_boolean(a->include_player));
	char *text = json_dumps(b, JSON_COMPACT);
	cli_json_wipe_string(json_object_get(b, "password"));
	json_decref(b);
	return text;
}

/* Polls GET exports/{id} until it is done or failed: 0 done (with the
 * size and SHA-256 of the file), EXIT_TAMPERED, EXIT_ERROR. */
static int
api_wait(struct api *a, const char *id, uint64_t *ret_bytes, char ret_sha[static 65])
{
	char path[128];
	int r = cu_path(path, sizeof(path), "/api/v1/exports/%s", id);
	if (r < 0)
		return cli_fail(CMD, r, "the export's id");
	struct cli_progress prog;
	cli_progress_init(&prog, "exporting");
	int64_t until = cu_time_mono_us() + POLL_MAX_US;
	int rc = EXIT_ERROR;
	for (;;) {
		if (interrupted) {
			cli_progress_done(&prog);
			fprintf(stderr, "custody export: interrupted: the export is cancelled on the "
			        "server\n");
			long st;
			json_t *j = NULL;
			if (cli_api_call(a, "DELETE", path, NULL, "cancel the export", &st, &j) == 0)
				json_decref(j);
			return EXIT_ERROR;
		}
		if (cli_api_renew(a) != 0)
			break;
		long status = 0;
		json_t *j = NULL;
		if (cli_api_call(a, "GET", path, NULL, "follow the export", &status, &j) != 0)
			break;
		if (status != 200) {
			cli_progress_done(&prog);
			cli_api_complain("follow the export", status, j, CURLE_OK, "");
			json_decref(j);
			return EXIT_ERROR;
		}
		const char *st = json_string_value(json_object_get(j, "status"));
		double progress = json_number_value(json_object_get(j, "progress"));
		cli_progress_update(&prog, (uint64_t)(progress * 1000), 1000);
		if (st != NULL && strcmp(st, "done") == 0) {
			cli_progress_done(&prog);
			json_t *b = json_object_get(j, "bytes");
			const char *sha = json_string_value(json_object_get(j, "sha256"));
			if (!json_is_integer(b) || json_integer_value(b) <= 0 || sha == NULL ||
			    strlen(sha) != 64) {
				fprintf(stderr, "custody export: --server: the finished export names no "
				        "size or SHA-256\n");
				json_decref(j);
				return EXIT_ERROR;
			}
			*ret_bytes = (uint64_t)json_integer_value(b);
			memcpy(ret_sha, sha, 65);
			json_decref(j);
			return 0;
		}
		if (st != NULL && strcmp(st, "failed") == 0) {
			cli_progress_done(&prog);
			json_t *t = json_object_get(j, "tampered");
			const char *err = json_string_value(json_object_get(j, "error"));
			if (json_is_object(t)) {
				const char *cam = json_string_value(json_object_get(t, "camera"));
				const char *when = json_string_value(json_object_get(t,
				                                     "failed_segment_start"));
				const char *why = json_string_value(json_object_get(t, "reason"));
				fprintf(stderr, "custody export: camera ");
				cli_print_safe(stderr, cam ? cam : "?", NULL);
				fprintf(stderr, ": TAMPERED: first failed segment at ");
				cli_print_safe(stderr, when ? when : "unknown time", NULL);
				fprintf(stderr, ": ");
				cli_print_safe(stderr, why ? why : "-", NULL);
				fprintf(stderr, "\ncustody export: nothing was exported\n");
				rc = EXIT_TAMPERED;
			} else {
				fprintf(stderr, "custody export: the export failed on the server: ");
				cli_print_safe(stderr, err ? err : "(no reason given)", NULL);
				fputc('\n', stderr);
			}
			json_decref(j);
			return rc;
		}
		json_decref(j);
		if (cu_time_mono_us() > until) {
			fprintf(stderr, "custody export: the export did not finish within a day\n");
			break;
		}
		struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_US * 1000};
		nanosleep(&ts, NULL);
	}
	cli_progress_done(&prog);
	return EXIT_ERROR;
}

/* Unpacks the server's player folder (a tar, already checked against the
 * size and SHA-256 the server gave) into <out>.tmp, then renames it to out
 * without replacing anything. 0, or EXIT_ERROR printed, nothing left. */
static int
folder_unpack(const char *tar, const char *out)
{
	char dir_tmp[PATH_MAX], inner[CU_TAR_NAME_MAX + 1], parent[PATH_MAX];
	int fd = -1, dfd = -1, rc = EXIT_ERROR;
	if (cu_path(dir_tmp, sizeof(dir_tmp), "%s.tmp", out) < 0)
		return EXIT_ERROR;
	if ((fd = open(tar, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		fprintf(stderr, "custody export: %s: %s\n", tar, strerror(errno));
		return EXIT_ERROR;
	}
	if (mkdir(dir_tmp, 0755) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", dir_tmp, strerror(errno));
		close(fd);
		return EXIT_ERROR;
	}
	/* the folder is for others to read (a USB stick, a disc): 0755 whatever the umask */
	if ((dfd = open(dir_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    fchmod(dfd, 0755) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", dir_tmp, strerror(errno));
		goto out;
	}
	if (cu_pkg_folder_untar(fd, dfd, inner, &unpack_stop) < 0) {
		fprintf(stderr, "custody export: the server's player folder: %s\n",
		        cu_error_detail());
		goto out;
	}
	if (renameat2(AT_FDCWD, dir_tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0) {
		fprintf(stderr, "custody export: --out %s: %s\n", out, strerror(errno));
		goto out;
	}
	if (cu_path(parent, sizeof(parent), "%s", out) == 0)
		cu_fsync_dir(dirname(parent));
	rc = 0;
out:
	if (dfd >= 0)
		close(dfd);
	close(fd);
	if (rc != 0)
		cli_export_folder_remove(dir_tmp);
	return rc;
}

int
cli_export_server(struct args *a)
{
	struct api api = {.ca_file = a->ca_file};
	struct cli_password lpw = {0}, ppw = {0};
	int rc = EXIT_ERROR;
	char id[65] = "", sha[65] = "";
	uint64_t bytes = 0;
	cu_buf_init_secret(&api.answer, ANSWER_MAX);
	int k = snprintf(api.base, sizeof(api.base), "%s", a->server);
	if (k < 0 || (size_t)k >= sizeof(api.base)) {
		fprintf(stderr, "custody export: --server: longer than %zu bytes\n",
		        sizeof(api.base) - 1);
		goto out;
	}
	for (size_t l = strlen(api.base); l > 8 && api.base[l - 1] == '/'; l--)
		api.base[l - 1] = '\0';
	if (access(a->ca_file, R_OK) < 0) {
		fprintf(stderr, "custody export: --ca-file %s: %s\n", a->ca_file, strerror(errno));
		goto out;
	}
	/* the passwords first: nothing is sent before both are known */
	if (a->pwfile != NULL) {
		if (cli_password_get(CMD, a->pwfile, false, &lpw) != 0)
			goto out;
	} else {
		char prompt[160];
		cu_fmt_cut(prompt, sizeof(prompt), "Password of %.64s on the server: ", a->user);
		if ((lpw.buf = calloc(1, CU_PASSWORD_MAX + 1)) == NULL)
			goto out;
		if (cli_ask_secret(prompt, lpw.buf, CU_PASSWORD_MAX, &lpw.len) < 0 || lpw.len == 0) {
			fprintf(stderr, "custody export: no --password-file given and no terminal to "
			        "ask on\n");
			goto out;
		}
	}
	if (!a->no_encryption &&
	    cli_pkg_password_get(CMD, "--package-password-file", a->pkg_pwfile, true, true,
	                         &ppw) != 0)
		goto out;
	if ((api.curl = curl_easy_init()) == NULL) {
		fprintf(stderr, "custody export: cannot start libcurl\n");
		goto out;
	}
	struct sigaction sa = {.sa_handler = on_sigint};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int r = cli_api_login(&api, a->user, &lpw);
	cli_password_free(&lpw);
	if (r != 0)
		goto out;
	char *body = export_body(a, &ppw);
	cli_password_free(&ppw);
	if (body == NULL) {
		fprintf(stderr, "custody export: the package password is not valid UTF-8 (or out "
		        "of memory)\n");
		goto out;
	}
	long status = 0;
	json_t *j = NULL;
	r = cli_api_call(&api, "POST", "/api/v1/exports", body, "start the export", &status, &j);
	cu_wipe(body, strlen(body));
	free(body);
	if (r != 0)
		goto out;
	const char *jid = json_string_value(json_object_get(j, "id"));
	if (status != 202 || jid == NULL || strlen(jid) >= sizeof(id) || strlen(jid) == 0 ||
	    strspn(jid, "0123456789abcdef") != strlen(jid)) {
		if (status == 202)
			fprintf(stderr, "custody export: --server: the answer names no export id\n");
		else
			cli_api_complain("start the export", status, j, CURLE_OK, "");
		json_decref(j);
		goto out;
	}
	memcpy(id, jid, strlen(jid) + 1);
	json_decref(j);
	if ((rc = api_wait(&api, id, &bytes, sha)) != 0)
		goto out;
	if (a->include_player) {
		char dl[PATH_MAX];
		if (cu_path(dl, sizeof(dl), "%s.download", a->out) < 0) {
			rc = EXIT_ERROR;
			goto out;
		}
		/* only a download this run made is removed (api_download never
		 * replaces a file) */
		if ((rc = api_download(&api, id, dl, bytes, sha)) == 0) {
			rc = folder_unpack(dl, a->out);
			unlink(dl);
		}
	} else {
		rc = api_download(&api, id, a->out, bytes, sha);
	}
	if (rc == 0) {
		char sz[32];
		cli_bytes(bytes, sz, sizeof(sz));
		if (a->include_player)
			printf("folder     %s (evidence.cuep, custody, verify-package.sh, README.txt)\n",
			       a->out);
		else
			printf("package    %s\n", a->out);
		printf("size       %llu bytes (%s)%s\n", (unsigned long long)bytes, sz,
		       a->include_player ? " downloaded as a tar" : "");
		printf("file       SHA-256 %s (as the server computed it)\n", sha);
		printf("export     %s on %s\n", id, api.base);
	}
out:
	if (api.curl != NULL) {
		cli_api_logout(&api);
		curl_easy_cleanup(api.curl);
	}
	cli_password_free(&lpw);
	cli_password_free(&ppw);
	cu_buf_free(&api.answer);
	return rc;
}

