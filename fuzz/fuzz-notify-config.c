/* Fuzz target: the notification sections of custodyd's configuration
 * (daemon/notify_conf.c through daemon/config.c): [notify], [rule NAME],
 * [webhook NAME], [snmp NAME], [email NAME]. The corpus
 * (fuzz/corpus/notify-config/) starts from configurations with rules and
 * targets of every kind.
 *
 * Properties: a refusal names a line; an accepted configuration has rules
 * with events and actions whose targets exist, webhooks with an https://
 * URL that sign, snmp targets with the secret files of their version and a
 * target the channel accepts, e-mail targets with a URL, a sender and 1 to
 * 16 recipients the channel accepts, and limits kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cd_config c; /* large: not on the stack */
	char err[512] = "";
	if (cd_config_parse((const char *)data, size, "/nonexistent", &c, err, sizeof(err)) < 0) {
		if (strncmp(err, "line ", 5) != 0) {
			fprintf(stderr, "fuzz-notify-config: refusal without a line: \"%s\"\n", err);
			abort();
		}
		return 0;
	}
	const struct cd_notify_conf *n = &c.notify;
	if (n->nrules > CD_RULES_MAX || n->nwebhooks > CD_WEBHOOKS_MAX ||
	    n->nsnmps > CD_SNMPS_MAX || n->nemails > CD_EMAILS_MAX || n->give_up_us <= 0)
		abort();
	for (size_t i = 0; i < n->nsnmps; i++) {
		const struct cd_snmp_conf *s = &n->snmps[i];
		struct cu_snmp_target t;
		cd_snmp_conf_target(s, &t);
		if (cu_snmp_target_check(&t, false) < 0 ||
		    (s->version == CU_SNMP_V2C) != (s->community_file[0] != '\0') ||
		    (s->version == CU_SNMP_V3 && (s->auth_file[0] == '\0' || s->priv_file[0] == '\0')))
			abort();
	}
	for (size_t i = 0; i < n->nemails; i++) {
		const struct cd_email_conf *e = &n->emails[i];
		const char *to[CU_SMTP_RCPT_MAX];
		struct cu_smtp_target t;
		cd_email_conf_target(e, &to, &t);
		if (e->nto == 0 || e->nto > CU_SMTP_RCPT_MAX || cu_smtp_target_check(&t, false) < 0 ||
		    (e->user[0] == '\0') != (e->password_file[0] == '\0'))
			abort();
	}
	for (size_t i = 0; i < n->nwebhooks; i++)
		if (strncmp(n->webhooks[i].url, "https://", 8) != 0 ||
		    (n->webhooks[i].secret_file[0] == '\0' && !n->webhooks[i].sign_ed25519))
			abort();
	for (size_t i = 0; i < n->nrules; i++) {
		const struct cd_rule *r = &n->rules[i];
		if (r->nevents == 0 || r->nevents > CD_RULE_EVENTS_MAX || r->nactions == 0 ||
		    r->nactions > CD_RULE_ACTIONS_MAX || r->severity < 0 || r->severity > 3)
			abort();
		for (size_t a = 0; a < r->nactions; a++) {
			const char *col = strchr(r->actions[a], ':');
			bool found = false;
			if (col == NULL)
				abort();
			size_t kl = (size_t)(col - r->actions[a]);
			for (size_t k = 0; kl == 7 && k < n->nwebhooks; k++)
				found |= strcmp(n->webhooks[k].name, col + 1) == 0;
			for (size_t k = 0; kl == 4 && k < n->nsnmps; k++)
				found |= strcmp(n->snmps[k].name, col + 1) == 0;
			for (size_t k = 0; kl == 5 && k < n->nemails; k++)
				found |= strcmp(n->emails[k].name, col + 1) == 0;
			if (!found)
				abort();
		}
	}
	return 0;
}
