/* The checks every channel makes of a notice, and its time in fields. */
#include <string.h>

#include "custody/error.h"
#include "custody/media.h"
#include "custody/text.h"
#include "custody/time.h"
#include "notify/notice.h"

static const char *const severities[] = {"info", "warning", "major", "critical"};

int
cu_notice_severity(const char *severity)
{
	for (size_t i = 0; severity != NULL && i < sizeof(severities) / sizeof(severities[0]); i++)
		if (strcmp(severity, severities[i]) == 0)
			return (int)i + 1;
	return 0;
}

size_t
cu_notice_span(const char *s, size_t n, bool upper, const char *extra)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      (upper && c >= 'A' && c <= 'Z') || (c != '\0' && strchr(extra, c) != NULL)))
			return i;
	}
	return n;
}

/* 1..max bytes of [a-z0-9._-], and upper case letters too when upper. */
static int
token_check(const char *s, size_t max, bool upper, const char *what)
{
	if (s == NULL || s[0] == '\0')
		return cu_fail(CU_ERR_INVAL, "%s: missing", what);
	size_t len = strlen(s);
	if (len > max)
		return cu_fail(CU_ERR_INVAL, "%s: %zu bytes, at most %zu", what, len, max);
	size_t bad = cu_notice_span(s, len, upper, "._-");
	if (bad < len)
		return cu_fail(CU_ERR_INVAL, "%s: byte %zu: only %s, digits, '.', '_' and '-'", what,
		               bad, upper ? "letters" : "lower-case letters");
	return 0;
}

static int
line_check(const char *s, size_t max, const char *what)
{
	if (s == NULL)
		return 0;
	int r = cu_text_check(s, strlen(s), max, 0);
	return r < 0 ? cu_fail_prefix(r, "%s", what) : 0;
}

int
cu_notice_check(const struct cu_notice *n)
{
	if (n == NULL)
		return cu_fail(CU_ERR_INVAL, "no notice");
	int r;
	if ((r = token_check(n->id, CU_NOTICE_ID_MAX, true, "notice id")) < 0 ||
	    (r = token_check(n->type, CU_NOTICE_TYPE_MAX, false, "event type")) < 0 ||
	    (r = token_check(n->source, CU_NOTICE_SOURCE_MAX, false, "event source")) < 0)
		return r;
	if (n->camera != NULL && (r = cu_camera_name_check(n->camera)) < 0)
		return cu_fail_prefix(r, "camera");
	if (n->phase == NULL || (strcmp(n->phase, "once") != 0 && strcmp(n->phase, "raise") != 0 &&
	                         strcmp(n->phase, "clear") != 0))
		return cu_fail(CU_ERR_INVAL, "phase: once, raise or clear");
	if (cu_notice_severity(n->severity) == 0)
		return cu_fail(CU_ERR_INVAL, "severity: info, warning, major or critical");
	char t[CU_TIME_ISO_MAX];
	if (!cu_time_text(n->t_us, t))
		return cu_fail(CU_ERR_INVAL, "time: outside years %d..%d", CU_TIME_MIN_YEAR,
		               CU_TIME_MAX_YEAR);
	if ((r = line_check(n->detail, CU_NOTIFY_DETAIL_MAX, "detail")) < 0 ||
	    (r = line_check(n->site, CU_NOTIFY_SITE_MAX, "site")) < 0 ||
	    (r = line_check(n->still_note, CU_NOTIFY_NOTE_MAX, "still note")) < 0)
		return r;
	if (n->still != NULL || n->still_len != 0) {
		if (n->still == NULL || n->still_len < 3 || n->still_len > CU_NOTIFY_STILL_MAX)
			return cu_fail(CU_ERR_INVAL, "still: %zu bytes, 3 to %u", n->still_len,
			               CU_NOTIFY_STILL_MAX);
		if (n->still[0] != 0xff || n->still[1] != 0xd8 || n->still[2] != 0xff)
			return cu_fail(CU_ERR_INVAL, "still: not a JPEG (no FF D8 FF at its start)");
	}
	return 0;
}

static int
digits(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

bool
cu_notice_civil(int64_t us, struct cu_civil *ret)
{
	char t[CU_TIME_ISO_MAX];
	if (!cu_time_text(us, t))
		return false;
	/* "YYYY-MM-DDTHH:MM:SS[.uuuuuu]Z" */
	struct cu_civil c = {
		.year = digits(t, 4), .month = digits(t + 5, 2), .day = digits(t + 8, 2),
		.hour = digits(t + 11, 2), .min = digits(t + 14, 2), .sec = digits(t + 17, 2),
		.usec = t[19] == '.' ? digits(t + 20, 6) : 0,
	};
	/* 1970-01-01 was a Thursday; us >= 0 here */
	int64_t days = us / (INT64_C(86400) * 1000000);
	c.wday = (int)((days + 4) % 7);
	*ret = c;
	return true;
}

void
cu_notice_time(int64_t us, char *buf, size_t len)
{
	char t[CU_TIME_ISO_MAX];
	cu_time_text(us - us % 1000000, t);
	cu_fmt_cut(buf, len, "%s", t);
}

const char *
cu_send_name(enum cu_send r)
{
	switch (r) {
	case CU_SEND_OK: return "ok";
	case CU_SEND_RETRY: return "retry";
	case CU_SEND_REFUSED: return "refused";
	}
	return "unknown";
}
