/* The one time helper: µs since the epoch <-> ISO 8601 UTC, without the
 * libc calendar functions (which depend on the process's time zone). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "custody/time.h"
#include "custody/error.h"

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
#define TIME_END_US INT64_C(253402300800000000) /* 10000-01-01T00:00:00Z */

int64_t
cu_time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
cu_time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic: the
 * calendar repeats every 400 years = 146097 days). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_y = yoe + era * 400 + (m <= 2);
	*ret_m = m;
	*ret_d = d;
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly n decimal digits at *p. */
static bool
digits(const char **p, int n, int *ret)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*ret = v;
	return true;
}

int
cu_time_parse_iso8601(const char *s, int64_t *ret_us)
{
	if (s == NULL)
		return cu_fail(CU_ERR_INVAL, "no time given");
	if (strnlen(s, 64) >= 64)
		return cu_fail(CU_ERR_FORMAT, "time \"%.20s...\" is too long for ISO 8601", s);
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0;
	int64_t offset_s = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		goto bad;
	if (*p == '\0')
		goto compose; /* a date alone: midnight UTC */
	if (*p != 'T' && *p != 't' && *p != ' ')
		goto bad;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		goto bad;
	if (*p == '.' || *p == ',') {
		p++;
		int n = 0;
		int64_t scale = 100000;
		while (*p >= '0' && *p <= '9') {
			if (n == 6) {
				return cu_fail(CU_ERR_FORMAT,
				               "time \"%s\": more than 6 fractional digits "
				               "(microseconds are the finest unit)", s);
			}
			frac_us += (*p - '0') * scale;
			scale /= 10;
			n++;
			p++;
		}
		if (n == 0)
			goto bad;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (!digits(&p, 2, &oh))
			goto bad;
		if (*p == ':')
			p++;
		if (!digits(&p, 2, &om) || oh > 23 || om > 59)
			goto bad;
		offset_s = sign * (oh * 3600 + om * 60);
	} else {
		return cu_fail(CU_ERR_FORMAT,
		               "time \"%s\" has no time zone: end it with Z (UTC) or +HH:MM", s);
	}
	if (*p != '\0')
		goto bad;
compose:
	if (y < CU_TIME_MIN_YEAR || y > CU_TIME_MAX_YEAR)
		return cu_fail(CU_ERR_FORMAT, "time \"%s\": year must be %d..%d", s,
		               CU_TIME_MIN_YEAR, CU_TIME_MAX_YEAR);
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59)
		return cu_fail(CU_ERR_FORMAT, "time \"%s\": no such date or time of day", s);
	int64_t secs = days_from_civil(y, mo, d) * SEC_PER_DAY + h * 3600 + mi * 60 + sec -
	               offset_s;
	if (secs < 0)
		return cu_fail(CU_ERR_FORMAT, "time \"%s\" is before 1970-01-01T00:00:00Z", s);
	if (secs >= days_from_civil(CU_TIME_MAX_YEAR + 1, 1, 1) * SEC_PER_DAY)
		return cu_fail(CU_ERR_FORMAT, "time \"%s\" is after 9999-12-31T23:59:59Z (UTC)", s);
	*ret_us = secs * US_PER_SEC + frac_us;
	return 0;
bad:
	return cu_fail(CU_ERR_FORMAT,
	               "time \"%s\" is not ISO 8601 (expected YYYY-MM-DDTHH:MM:SS[.ffffff]Z)", s);
}

bool
cu_time_text(int64_t us, char buf[static CU_TIME_ISO_MAX])
{
	/* the first µs of year 10000, and any negative time: no ISO 8601 form */
	if (us < 0 || us >= TIME_END_US) {
		memcpy(buf, CU_TIME_UNKNOWN, sizeof(CU_TIME_UNKNOWN));
		return false;
	}
	int64_t secs = us / US_PER_SEC;
	int64_t frac = us % US_PER_SEC;
	int64_t days = secs / SEC_PER_DAY;
	int64_t rem = secs % SEC_PER_DAY;
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	/* Every field is in range here, so the text is at most 27 bytes; the
	 * compiler cannot see that, hence the roomy scratch buffer and the check. */
	char text[96];
	int n;
	if (frac != 0)
		n = snprintf(text, sizeof(text), "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ",
		             (long long)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
		             (int)(rem % 60), (long long)frac);
	else
		n = snprintf(text, sizeof(text), "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m,
		             d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	if (n < 0 || n >= CU_TIME_ISO_MAX) {
		memcpy(buf, CU_TIME_UNKNOWN, sizeof(CU_TIME_UNKNOWN));
		return false;
	}
	memcpy(buf, text, (size_t)n + 1);
	return true;
}
