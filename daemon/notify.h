/* Events kept and notified (docs/notifications.md): every event cd_emit
 * publishes is stored in STORE/events.db; the rules of the configuration
 * pick the ones to notify, each notice is written to the outbox before any
 * attempt, and a worker thread delivers it over its target's channel with
 * retries. */
#ifndef CD_NOTIFY_H
#define CD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "custody/auth.h"
#include "custody/evdb.h"
#include "custody/store.h"
#include "notify_conf.h"

struct cd_ev;

/* custodyd --check: every webhook's secret file reads and parses, every
 * ca file is readable. Logs the fault (never a secret); 0 or -1. */
int cd_notify_check(const struct cd_notify_conf *nc);
/* Opens events.db, the targets (secret files, the signing key), and starts
 * the worker, which first delivers what an earlier run left pending.
 * *auth (may become non-NULL later) resolves group: in rules. */
int cd_notify_start(const struct cd_notify_conf *nc, cu_store *store, cu_auth *const *auth);
/* Stops the worker (an attempt under way finishes) and closes everything. */
void cd_notify_stop(void);
/* Ends the live streams (before the HTTPS server stops). */
void cd_notify_end_streams(void);
/* From cd_emit: stores the event, applies the rules. */
void cd_notify_event(const struct cd_ev *ev);
/* The event store, or NULL before start. */
cu_evdb *cd_notify_db(void);
/* The Ed25519 public key v1a signatures verify with (base64), "" if none. */
const char *cd_notify_public_key(void);

/* The live stream: events as they are stored, in order. *cursor starts at
 * cd_notify_cursor(); waits up to timeout_us for the next. 1: *ret filled,
 * 0: timed out, -1: events were missed (the subscriber lagged by more than
 * CD_NOTIFY_RING events; *cursor moved on), -2: custodyd stops. */
#define CD_NOTIFY_RING 256
uint64_t cd_notify_cursor(void);
int cd_notify_next(uint64_t *cursor, int64_t timeout_us, struct cu_evrec *ret);

#endif
