/* custody-camsim's ONVIF event service (tools/camsim/README.md "ONVIF
 * events"): a small HTTP/1.1 server on 127.0.0.1 that answers the PullPoint
 * operations, checks the WS-Security UsernameToken digest, and sends the
 * events that the control socket's "onvif ..." commands make. Runs on the
 * main loop; nothing here is thread-safe. */
#ifndef CAMSIM_ONVIF_H
#define CAMSIM_ONVIF_H

#include <glib.h>

struct onvif_sim;

/* Listens on 127.0.0.1:port (0: any free port). user NULL: no
 * authentication; else password is copied (wiped at onvif_sim_free).
 * NULL with *err set when the port cannot be bound. */
struct onvif_sim *onvif_sim_new(unsigned port, const char *user, const char *password,
                                GError **err);

/* The bound port. */
int onvif_sim_port(const struct onvif_sim *s);

/* Runs the control command "onvif WORDS..." (words[0] is the first word after
 * "onvif"); returns the answer to g_free: "ok", the subscription report, or
 * "error: ...". s may be NULL (no --onvif-port). */
gchar *onvif_sim_command(struct onvif_sim *s, char **words, size_t n);

/* Closes every connection and the listening socket. NULL is accepted. */
void onvif_sim_free(struct onvif_sim *s);

#endif
