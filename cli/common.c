#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "custody/crypto.h"
#include "custody/store.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/secret.h"

int
cli_fail(const char *cmd, int err, const char *what)
{
	const char *detail = cu_error_detail();
	if (detail[0] != '\0')
		fprintf(stderr, "custody %s: %s: %s\n", cmd, what, detail);
	else
		fprintf(stderr, "custody %s: %s: %s\n", cmd, what, cu_strerror(err));
	return EXIT_ERROR;
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "custody %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see custody %s --help)\n", cmd);
	return EXIT_ERROR;
}

int
cli_bad_option(const char *cmd, char **argv)
{
	return cli_usage(cmd, "unknown or incomplete option \"%s\"", argv[optind - 1]);
}

int
cli_options_end(const char *cmd, int argc, char **argv, const char *store)
{
	if (optind != argc)
		return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
	if (store == NULL)
		return cli_usage(cmd, "--store DIR is required");
	return -1;
}

int
cli_only(const char *cmd, const struct cli_seen *seen, size_t n, const char *allowed)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].set && strchr(allowed, seen[i].key) == NULL)
			return cli_usage(cmd, "%s does not apply here", seen[i].name);
	return -1;
}

int
cli_next_option(int argc, char **argv, const struct option *opts)
{
	opterr = 0;
	return getopt_long(argc, argv, "", opts, NULL);
}

static int
read_password_file(const char *cmd, const char *file, struct cli_password *p)
{
	int r = cu_secret_file_read(file, CU_PASSWORD_MAX, 1, &p->buf, &p->len);
	if (r < 0) {
		fprintf(stderr, "custody %s: --password-file %s\n", cmd, cu_error_detail());
		return EXIT_ERROR;
	}
	return 0;
}

int
cli_ask_secret(const char *prompt, char *buf, size_t max, size_t *ret_len)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct termios old, quiet;
	int r = -1;
	if (tcgetattr(fd, &old) < 0)
		goto out;
	quiet = old;
	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		goto out;
	size_t len = 0;
	char c;
	while (len < max) {
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			break;
		buf[len++] = c;
	}
	c = 0;
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* the newline is cosmetic */
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	*ret_len = len;
	r = 0;
out:
	close(fd);
	return r;
}

int
cli_password_get(const char *cmd, const char *file, bool confirm, struct cli_password *ret)
{
	if (file != NULL)
		return read_password_file(cmd, file, ret);
	char *a = calloc(1, CU_PASSWORD_MAX + 1), *b = calloc(1, CU_PASSWORD_MAX + 1);
	size_t la = 0, lb = 0;
	int r = EXIT_ERROR;
	if (a == NULL || b == NULL)
		goto out;
	if (cli_ask_secret(confirm ? "New store password: " : "Store password: ", a, CU_PASSWORD_MAX,
	            &la) < 0) {
		fprintf(stderr, "custody %s: no --password-file given and no terminal to ask on\n",
		        cmd);
		goto out;
	}
	if (confirm) {
		if (cli_ask_secret("Repeat the password: ", b, CU_PASSWORD_MAX, &lb) < 0 || la != lb ||
		    !cu_ct_equal(a, b, la)) {
			fprintf(stderr, "custody %s: the two passwords differ\n", cmd);
			goto out;
		}
	}
	if (la == 0) {
		fprintf(stderr, "custody %s: empty password\n", cmd);
		goto out;
	}
	*ret = (struct cli_password){ .buf = a, .len = la };
	a = NULL;
	r = 0;
out:
	cu_secret_free(a, CU_PASSWORD_MAX + 1);
	cu_secret_free(b, CU_PASSWORD_MAX + 1);
	return r;
}

void
cli_password_free(struct cli_password *p)
{
	cu_secret_free(p->buf, p->len);
	p->buf = NULL;
	p->len = 0;
}

void
cli_progress_init(struct cli_progress *p, const char *label)
{
	p->tty = isatty(STDERR_FILENO) == 1;
	p->label = label;
	p->started_mono = p->last_mono = cu_time_mono_us();
}

void
cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total)
{
	if (!p->tty)
		return;
	int64_t now = cu_time_mono_us();
	if (now - p->last_mono < 100000 && done < total)
		return;
	p->last_mono = now;
	int width = 30;
	int fill = total ? (int)((double)done / (double)total * width) : width;
	if (fill > width)
		fill = width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	double secs = (double)(now - p->started_mono) / 1e6;
	double rate = secs > 0 ? (double)done / secs / 1e6 : 0;
	fprintf(stderr, "\r%s [%s] %3d%%  %.1f MB/s ", p->label, bar,
	        total ? (int)(done * 100 / total) : 100, rate);
	fflush(stderr);
}

void
cli_progress_done(struct cli_progress *p)
{
	if (p->tty)
		fprintf(stderr, "\r%*s\r", 70, "");
}

void
cli_bytes(uint64_t n, char *buf, size_t len)
{
	if (n < 1000)
		cu_fmt_cut(buf, len, "%llu B", (unsigned long long)n);     /* for people */
	else if (n < 1000000)
		cu_fmt_cut(buf, len, "%.1f kB", (double)n / 1e3);
	else if (n < 1000000000)
		cu_fmt_cut(buf, len, "%.1f MB", (double)n / 1e6);
	else
		cu_fmt_cut(buf, len, "%.2f GB", (double)n / 1e9);
}

json_t *
cli_json_time(int64_t us)
{
	char buf[CU_TIME_ISO_MAX];
	return cu_time_text(us, buf) ? json_string(buf) : json_null();
}

int
cli_time_arg(const char *cmd, const char *opt, const char *value, int64_t *ret)
{
	int r = cu_time_parse_iso8601(value, ret);
	if (r < 0) {
		fprintf(stderr, "custody %s: %s: %s\n", cmd, opt, cu_error_detail());
		return EXIT_ERROR;
	}
	return 0;
}

bool
cli_gap_is_event(const struct cu_verify_gap *g)
{
	return g->kind == CU_REC_EVENT_KIND;
}

json_t *
cli_events_json(const char *camera, const struct cu_verify_gap *g, size_t n)
{
	struct cu_event_period *p = NULL;
	size_t np = 0;
	if (cu_event_periods(g, n, &p, &np) < 0)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < np; i++) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "camera", camera, "type",
		                      p[i].type, "source", p[i].source, "severity",
		                      cu_event_severity_name(p[i].severity), "from",
		                      cli_json_time(p[i].from_us), "to", cli_json_time(p[i].to_us),
		                      "detail", p[i].detail);
		if (o == NULL || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	free(p);
	return a;
}

void
cli_events_print(const char *indent, const struct cu_verify_gap *g, size_t n)
{
	struct cu_event_period *p = NULL;
	size_t np = 0;
	if (cu_event_periods(g, n, &p, &np) < 0) {
		printf("%sevent records that cannot be read: %s\n", indent, cu_error_detail());
		return;
	}
	for (size_t i = 0; i < np; i++) {
		char a[CU_TIME_ISO_MAX] = "-", b[CU_TIME_ISO_MAX] = "(still raised)";
		if (p[i].from_us >= 0)
			cu_time_text(p[i].from_us, a);
		if (p[i].to_us >= 0)
			cu_time_text(p[i].to_us, b);
		printf("%sevent %s (%s, %s) %s to %s: ", indent, p[i].type, p[i].source,
		       cu_event_severity_name(p[i].severity), a, b);
		cli_print_safe(stdout, p[i].detail, NULL);
		printf(" (signed)\n");
	}
	free(p);
}
