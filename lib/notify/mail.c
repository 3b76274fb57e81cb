/* The e-mail of a notice: headers from checked tokens only, a text body, the
 * attachment's name. RFC 5322 (message format), RFC 3834 (Auto-Submitted). */
#include <stdlib.h>
#include <string.h>

#include "custody/error.h"
#include "custody/file.h"
#include "custody/text.h"
#include "custody/time.h"
#include "notify/mail.h"
#include "notify/notice.h"

int
cu_mail_address_check(const char *addr, const char *what)
{
	if (addr == NULL || addr[0] == '\0')
		return cu_fail(CU_ERR_INVAL, "%s: missing", what);
	size_t len = strlen(addr);
	if (len < 3 || len > CU_SMTP_ADDR_MAX)
		return cu_fail(CU_ERR_INVAL, "%s: %zu bytes, 3 to %d", what, len, CU_SMTP_ADDR_MAX);
	const char *at = strchr(addr, '@');
	if (at == NULL || at == addr || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return cu_fail(CU_ERR_INVAL, "%s: not local@domain", what);
	for (const char *p = addr; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("()<>[]:;@\\,\"", c) != NULL)
			return cu_fail(CU_ERR_INVAL, "%s: byte %zu: not allowed in the local part", what,
			               (size_t)(p - addr));
	}
	size_t dlen = strlen(at + 1), bad = cu_notice_span(at + 1, dlen, true, "-.");
	if (bad < dlen)
		return cu_fail(CU_ERR_INVAL, "%s: byte %zu: a domain has letters, digits, '-' and '.' "
		               "only", what, (size_t)(at + 1 - addr) + bad);
	return 0;
}

int
cu_mail_compose(const struct cu_notice *n, const char *from, const char *const *to, size_t n_to,
                int64_t now_us, struct cu_mail *ret)
{
	int r = cu_notice_check(n);
	if (r < 0)
		return r;
	if ((r = cu_mail_address_check(from, "from")) < 0)
		return r;
	if (to == NULL || n_to == 0 || n_to > CU_SMTP_RCPT_MAX)
		return cu_fail(CU_ERR_INVAL, "recipients: %zu, 1 to %d", n_to, CU_SMTP_RCPT_MAX);
	struct cu_civil now;
	if (!cu_notice_civil(now_us, &now))
		return cu_fail(CU_ERR_INVAL, "the clock is outside years 1970..9999");
	struct cu_mail *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return cu_fail(CU_ERR_NOMEM, "mail");
	static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	char when[CU_TIME_ISO_MAX];
	cu_notice_time(n->t_us, when, sizeof(when));
	const char *domain = strchr(from, '@') + 1;
	size_t used = 0;
	if ((r = cu_path(m->to, sizeof(m->to), "To: ")) < 0)
		goto fail;
	used = strlen(m->to);
	for (size_t i = 0; i < n_to; i++) {
		char what[32];
		cu_fmt_cut(what, sizeof(what), "recipient %zu", i + 1);
		if ((r = cu_mail_address_check(to[i], what)) < 0 ||
		    (r = cu_path(m->to + used, sizeof(m->to) - used, "%s<%s>", i ? ", " : "", to[i])) < 0)
			goto fail;
		used += strlen(m->to + used);
	}
	const char *camera = n->camera;
	if ((r = cu_path(m->from, sizeof(m->from), "From: custody <%s>", from)) < 0 ||
	    (r = camera != NULL
	             ? cu_path(m->subject, sizeof(m->subject), "Subject: [custody] %s %s on %s (%s)",
	                       n->severity, n->type, camera, n->phase)
	             : cu_path(m->subject, sizeof(m->subject), "Subject: [custody] %s %s (%s)",
	                       n->severity, n->type, n->phase)) < 0 ||
	    (r = cu_path(m->date, sizeof(m->date), "Date: %s, %02d %s %04d %02d:%02d:%02d +0000",
	                 wdays[now.wday], now.day, months[now.month - 1], now.year, now.hour, now.min,
	                 now.sec)) < 0 ||
	    (r = cu_path(m->message_id, sizeof(m->message_id), "Message-ID: <custody.%s@%s>", n->id,
	                 domain)) < 0 ||
	    (r = cu_path(m->auto_submitted, sizeof(m->auto_submitted),
	                 "Auto-Submitted: auto-generated")) < 0 ||
	    (r = cu_path(m->filename, sizeof(m->filename), "custody-%s.jpg", n->id)) < 0)
		goto fail;
	r = cu_path(m->body, sizeof(m->body),
	            "custody event\r\n"
	            "\r\n"
	            "Event:     %s (%s)\r\n"
	            "Severity:  %s\r\n"
	            "Camera:    %s\r\n"
	            "Time:      %s (UTC)\r\n"
	            "Detail:    %s\r\n"
	            "Source:    %s\r\n"
	            "Site:      %s\r\n"
	            "Event id:  %s\r\n"
	            "%s%s%s",
	            n->type, n->phase, n->severity, camera != NULL ? camera : "(none)", when,
	            n->detail != NULL ? n->detail : "", n->source, n->site != NULL ? n->site : "",
	            n->id,
	            n->still != NULL ? "\r\nA still of the camera's view at the event is attached.\r\n"
	            : n->still_note != NULL ? "\r\nNo still attached: " : "",
	            n->still == NULL && n->still_note != NULL ? n->still_note : "",
	            n->still == NULL && n->still_note != NULL ? "\r\n" : "");
	if (r < 0)
		goto fail;
	*ret = *m;
	free(m);
	return 0;
fail:
	free(m);
	return r;
}
