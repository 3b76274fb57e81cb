/* custody CLI: what export, verify, player and import share about evidence
 * packages: the package password, refusing a package where a store or a
 * media file is expected, verification with a progress bar, and making text
 * from a package safe to print. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custody/crypto.h"
#include "custody/package.h"
#include "custody/parse.h"
#include "custody/secret.h"
#include "custody/text.h"

#define ASK_TRIES 3 /* wrong passwords typed on the terminal before giving up */

static const uint8_t magic[8] = {'C', 'U', 'S', 'T', 'P', 'K', 'G', '\0'};

int
cli_pkg_password_get(const char *cmd, const char *opt, const char *file, bool confirm,
                     bool check_len, struct cli_password *ret)
{
	if (file != NULL) {
		int r = cu_secret_file_read(file, CU_PKG_PASSWORD_MAX, 1, &ret->buf, &ret->len);
		if (r < 0) {
			fprintf(stderr, "custody %s: %s %s\n", cmd, opt, cu_error_detail());
			return EXIT_ERROR;
		}
		if (check_len && ret->len < CU_PKG_PASSWORD_MIN) {
			cli_password_free(ret);
			fprintf(stderr, "custody %s: %s: the package password must be at least %d "
			        "bytes\n", cmd, opt, CU_PKG_PASSWORD_MIN);
			return EXIT_ERROR;
		}
		return 0;
	}
	char *a = calloc(1, CU_PKG_PASSWORD_MAX + 1), *b = calloc(1, CU_PKG_PASSWORD_MAX + 1);
	size_t la = 0, lb = 0;
	int r = EXIT_ERROR;
	if (a == NULL || b == NULL) {
		fprintf(stderr, "custody %s: out of memory\n", cmd);
		goto out;
	}
	if (cli_ask_secret(confirm ? "New package password: " : "Package password: ", a,
	                   CU_PKG_PASSWORD_MAX, &la) < 0) {
		fprintf(stderr, "custody %s: no %s given and no terminal to ask for the package "
		        "password on\n", cmd, opt);
		goto out;
	}
	if (la == 0) {
		fprintf(stderr, "custody %s: empty package password\n", cmd);
		goto out;
	}
	if (check_len && la < CU_PKG_PASSWORD_MIN) {
		fprintf(stderr, "custody %s: the package password must be at least %d bytes\n", cmd,
		        CU_PKG_PASSWORD_MIN);
		goto out;
	}
	if (confirm && (cli_ask_secret("Repeat the package password: ", b, CU_PKG_PASSWORD_MAX,
	                               &lb) < 0 || la != lb || !cu_ct_equal(a, b, la))) {
		fprintf(stderr, "custody %s: the two package passwords differ\n", cmd);
		goto out;
	}
	*ret = (struct cli_password){ .buf = a, .len = la };
	a = NULL;
	r = 0;
out:
	cu_secret_free(a, CU_PKG_PASSWORD_MAX + 1);
	cu_secret_free(b, CU_PKG_PASSWORD_MAX + 1);
	return r;
}

int
cli_pkg_probe(const char *path, bool *ret_encrypted, bool *ret_prevent_reexport)
{
	/* through symbolic links: a link to a package is a package */
	char real[PATH_MAX];
	if (realpath(path, real) == NULL)
		return 0;
	bool enc = false, noexp = false;
	int r = cu_pkg_probe(real, &enc, &noexp);
	if (r == 0) {
		if (ret_encrypted != NULL)
			*ret_encrypted = enc;
		if (ret_prevent_reexport != NULL)
			*ret_prevent_reexport = noexp;
		return 1;
	}
	/* a damaged or newer package is still a package */
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	uint8_t head[sizeof(magic)];
	bool is = false;
	if (fd >= 0) {
		is = read(fd, head, sizeof(head)) == (ssize_t)sizeof(head) &&
		     memcmp(head, magic, sizeof(magic)) == 0;
		close(fd);
	}
	cu_error_clear();
	if (is) {
		if (ret_encrypted != NULL)
			*ret_encrypted = false;
		if (ret_prevent_reexport != NULL)
			*ret_prevent_reexport = false;
		return 2;
	}
	return 0;
}

int
cli_pkg_refuse(const char *cmd, const char *opt, const char *path, const char *what)
{
	bool noexp = false;
	int k = cli_pkg_probe(path, NULL, &noexp);
	if (k == 0)
		return 0;
	fprintf(stderr, "custody %s: %s%s%s is a custody evidence package: %s\n", cmd,
	        opt != NULL ? opt : "", opt != NULL ? " " : "", path, what);
	if (noexp)
		fprintf(stderr, "custody %s: the package forbids re-export (its signed "
		        "prevent-re-export flag is set): custody will not re-export, convert or "
		        "extract it; view it with custody player\n", cmd);
	else
		fprintf(stderr, "custody %s: check it with custody verify PACKAGE, view it with "
		        "custody player PACKAGE\n", cmd);
	return EXIT_ERROR;
}

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
	cli_progress_update(ctx, done, total);
}

int
cli_pkg_verify(const char *cmd, const char *path, const char *pwfile, const uint8_t *pin,
               int (*on_frame)(void *, const char *, const cu_frame *), void *frame_ctx,
               void (*before_retry)(void *), struct cu_pkg_report **ret,
               struct cli_password *ret_password)
{
	bool encrypted = false;
	int k = cli_pkg_probe(path, &encrypted, NULL);
	if (k == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			fprintf(stderr, "custody %s: %s: %s\n", cmd, path, strerror(errno));
			return EXIT_ERROR;
		}
		close(fd);
		fprintf(stderr, "custody %s: %s is not a custody evidence package (for a store, "
		        "give --store DIR)\n", cmd, path);
		return EXIT_ERROR;
	}
	struct cli_password pw = {0};
	bool asked = encrypted && pwfile == NULL;
	if ((encrypted || pwfile != NULL) &&
	    cli_pkg_password_get(cmd, "--password-file", pwfile, false, false, &pw) != 0)
		return EXIT_ERROR;
	for (int attempt = 1;; attempt++) {
		struct cli_progress prog;
		cli_progress_init(&prog, "verifying");
		struct cu_pkg_verify_opts o = {
			.password = pw.buf,
			.password_len = pw.len,
			.ca_fingerprint = pin,
			.progress = on_progress,
			.progress_ctx = &prog,
			.on_frame = on_frame,
			.frame_ctx = frame_ctx,
		};
		struct cu_pkg_report *rep = NULL;
		int r = cu_pkg_verify(path, &o, &rep);
		cli_progress_done(&prog);
		if (r < 0) {
			cli_password_free(&pw);
			if (r == CU_ERR_CANCELLED)
				return EXIT_ERROR;
			if (r == CU_ERR_PASSWORD) {
				fprintf(stderr, "custody %s: %s is encrypted: give its password with "
				        "--password-file F or on the terminal\n", cmd, path);
				return EXIT_ERROR;
			}
			return cli_fail(cmd, r, "the package could not be checked");
		}
		if (rep->status == CU_PKG_WRONG_PASSWORD && asked && attempt < ASK_TRIES) {
			cu_pkg_report_free(rep);
			cli_password_free(&pw);
			fprintf(stderr, "wrong password, try again\n");
			if (before_retry != NULL)
				before_retry(frame_ctx);
			if (cli_pkg_password_get(cmd, "--password-file", NULL, false, false, &pw) != 0)
				return EXIT_ERROR;
			continue;
		}
		if (ret_password != NULL)
			*ret_password = pw;
		else
			cli_password_free(&pw);
		*ret = rep;
		return 0;
	}
}

int
cli_pkg_exit_code(const struct cu_pkg_report *rep)
{
	switch (rep->status) {
	case CU_PKG_INTACT: return EXIT_INTACT;
	case CU_PKG_TAMPERED:
	case CU_PKG_DAMAGED: return EXIT_TAMPERED;
	default: return EXIT_ERROR;
	}
}

const char *
cli_pkg_status_name(int status)
{
	switch (status) {
	case CU_PKG_INTACT: return "intact";
	case CU_PKG_TAMPERED: return "tampered";
	case CU_PKG_WRONG_PASSWORD: return "wrong_password";
	case CU_PKG_DAMAGED: return "damaged";
	default: return "unknown";
	}
}

void
cli_print_safe(FILE *f, const char *s, const char *indent)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = cu_utf8_next(p + i, len - i, &cp);
		if (n == 0) {
			fputc('?', f);
			i++;
			continue;
		}
		if (cp == '\n') {
			fputc('\n', f);
			if (indent != NULL)
				fputs(indent, f);
		} else if (cp == '\t') {
			fputc(' ', f);
		} else if (!cu_text_char_ok(cp, 0)) {
			fputc('?', f);
		} else {
			fwrite(p + i, 1, n, f);
		}
		i += n;
	}
}
