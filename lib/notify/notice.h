/* Internal: what every channel checks and derives from a notice. */
#ifndef CU_NOTIFY_NOTICE_H
#define CU_NOTIFY_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/notify.h"

#define CU_NOTICE_ID_MAX 64
#define CU_NOTICE_TYPE_MAX 64
#define CU_NOTICE_SOURCE_MAX 32

/* Checks n: id 1..64 of [A-Za-z0-9._-]; type 1..64 and source 1..32 of
 * [a-z0-9._-]; camera NULL or cu_camera_name_check; phase once/raise/clear;
 * severity info/warning/major/critical; a time in years 1970..9999; detail
 * and site (NULL: empty) one line of text (cu_text_check) of at most
 * CU_NOTIFY_DETAIL_MAX / CU_NOTIFY_SITE_MAX bytes; a still of 1 byte to
 * CU_NOTIFY_STILL_MAX that starts as JPEG does (FF D8 FF). Returns 0, or
 * CU_ERR_INVAL with a detail naming the field. */
int cu_notice_check(const struct cu_notice *n);

/* The one character rule of the channels' names (hosts, domains, tokens):
 * the offset of the first of the n bytes at s that is neither a digit, nor
 * a lower-case letter, nor (with upper) an upper-case letter, nor one of
 * extra; n when all are. */
size_t cu_notice_span(const char *s, size_t n, bool upper, const char *extra);

/* The severity's number in CUSTODY-MIB (info 1 .. critical 4); 0 for none. */
int cu_notice_severity(const char *severity);

/* A time broken into its UTC fields (no libc calendar: from cu_time_text). */
struct cu_civil {
	int year, month, day, hour, min, sec, usec;
	int wday;   /* 0 Sunday .. 6 Saturday */
};
/* false for a time outside years 1970..9999. */
bool cu_notice_civil(int64_t us, struct cu_civil *ret);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (cu_time_text) into buf. */
void cu_notice_time(int64_t us, char *buf, size_t len);

#endif
