/* cu-notifysend: several SNMPv3 informs from one process, as custodyd's
 * outbox sends them, for test_notify_channels.
 *
 *   cu-notifysend HOST PORT USER AUTH PRIV [AUTH PRIV ...]
 *
 * sends one inform per AUTH/PRIV passphrase pair, one after the other, and
 * prints "N <outcome>" for each (the passphrases are test values given on
 * the command line: this is a test helper, not a tool). A changed passphrase
 * must take effect at the next send: net-snmp keeps USM users in a global
 * table, which cu_snmp_send clears after each send.
 *
 *   cu-notifysend HOST PORT USER AUTH PRIV --threads N
 *
 * sends N informs at once from N threads and prints each outcome: the
 * channel must be safe to call from the outbox's threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/notify.h"
#include "custody/parse.h"
#include "custody/time.h"

#define THREADS_MAX 16

struct job {
	struct cu_snmp_target t;
	char id[40];
	enum cu_send r;
	char err[256];
};

static void
send_one(struct job *j)
{
	struct cu_notice n = {.id = j->id, .t_us = cu_time_now_us(), .type = "notify.test",
	                      .camera = "cam9", .source = "custody", .phase = "once",
	                      .severity = "warning", .detail = "from cu-notifysend", .site = ""};
	j->r = cu_snmp_send(&j->t, &n, j->err, sizeof(j->err));
}

static void *
run(void *arg)
{
	send_one(arg);
	return NULL;
}

int
main(int argc, char **argv)
{
	uint64_t port, threads = 0;
	if (argc < 6 || cu_parse_u64(argv[2], 65535, "port", &port) < 0) {
		fprintf(stderr, "usage: cu-notifysend HOST PORT USER AUTH PRIV [AUTH PRIV ... | --threads N]\n");
		return 2;
	}
	if (argc == 8 && strcmp(argv[6], "--threads") == 0 &&
	    (cu_parse_u64(argv[7], THREADS_MAX, "threads", &threads) < 0 || threads == 0))
		return 2;
	struct cu_snmp_target base = {.host = argv[1], .port = (uint16_t)port,
	                              .version = CU_SNMP_V3, .user = argv[3],
	                              .timeout_ms = 1000, .retries = 0};
	if (threads > 0) {
		struct job jobs[THREADS_MAX];
		pthread_t tid[THREADS_MAX];
		for (uint64_t i = 0; i < threads; i++) {
			jobs[i] = (struct job){.t = base};
			jobs[i].t.auth_pass = argv[4];
			jobs[i].t.priv_pass = argv[5];
			snprintf(jobs[i].id, sizeof(jobs[i].id), "evt_thread%02u", (unsigned)i);
			if (pthread_create(&tid[i], NULL, run, &jobs[i]) != 0)
				return 2;
		}
		for (uint64_t i = 0; i < threads; i++) {
			pthread_join(tid[i], NULL);
			printf("%u %s %s\n", (unsigned)i, cu_send_name(jobs[i].r), jobs[i].err);
		}
		return 0;
	}
	if ((argc - 4) % 2 != 0)
		return 2;
	for (int i = 4, k = 0; i + 1 < argc; i += 2, k++) {
		struct job j = {.t = base};
		j.t.auth_pass = argv[i];
		j.t.priv_pass = argv[i + 1];
		snprintf(j.id, sizeof(j.id), "evt_seq%02d", k);
		send_one(&j);
		printf("%d %s %s\n", k, cu_send_name(j.r), j.err);
		fflush(stdout);
	}
	return 0;
}
