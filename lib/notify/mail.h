/* Internal: the e-mail of a notice, built without the network (smtp.c sends
 * it through libcurl; tests/unit/test-notify.c checks it). */
#ifndef CU_NOTIFY_MAIL_H
#define CU_NOTIFY_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "custody/notify.h"

#define CU_MAIL_LINE_MAX 512      /* a header line other than To: */
#define CU_MAIL_TO_MAX (CU_SMTP_RCPT_MAX * (CU_SMTP_ADDR_MAX + 2) + 8)
#define CU_MAIL_BODY_MAX 4096
#define CU_MAIL_HEADERS 6

/* Header lines without CR/LF ("Subject: ..."), the text body (lines ending
 * in CRLF, as RFC 5322 and quoted-printable want them), and the attachment's file name. */
struct cu_mail {
	char from[CU_MAIL_LINE_MAX];
	char to[CU_MAIL_TO_MAX];
	char subject[CU_MAIL_LINE_MAX];
	char date[CU_MAIL_LINE_MAX];
	char message_id[CU_MAIL_LINE_MAX];
	char auto_submitted[CU_MAIL_LINE_MAX];
	char body[CU_MAIL_BODY_MAX];
	char filename[CU_MAIL_LINE_MAX];
};

/* Builds the mail of n (cu_notice_check first) from `from` to `to` (n_to
 * addresses, 1..CU_SMTP_RCPT_MAX), dated now_us. Every header is built from
 * checked tokens, so no CR or LF from the event can reach it; the free text
 * (detail, site) goes into the body only. 0, or CU_ERR_INVAL/LIMIT with a
 * detail; *ret is filled only on success. */
int cu_mail_compose(const struct cu_notice *n, const char *from, const char *const *to, size_t n_to,
                    int64_t now_us, struct cu_mail *ret);

#endif
