/* The SNMP channel: one notice as a v2c trap or a v3 inform (USM authPriv,
 * HMAC-SHA-1 and AES-128), through net-snmp's single-session API.
 *
 * net-snmp is a library with global state: configuration files, a
 * persistent directory, MIB loading and a log that prints. It is set up once
 * so that it reads no configuration (no snmp.conf, nothing in $HOME), loads
 * and saves no persistent state (nothing written to /var/lib/snmp or
 * ~/.snmp), loads no MIBs (the OIDs are numbers here) and logs nothing (this
 * is a library: errors come back in err). docs/notifications-snmp.md. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include "custody/error.h"
#include "custody/file.h"
#include "custody/text.h"
#include "custody/time.h"
#include "custody/util.h"
#include "notify/notice.h"

#define TRAP_PORT 162
#define SNMP_TIMEOUT_MS 5000
#define SNMP_COMMUNITY_MAX 64
#define SNMP_USER_MAX 32
#define SNMP_PASS_MIN 8           /* RFC 3414 11.2: shorter passphrases are refused */
#define SNMP_TEXT_MAX 255         /* CustodyText in CUSTODY-MIB */
#define NO_DIR "/dev/null/custody-no-net-snmp-state"

/* CUSTODY-MIB: enterprises.32473 (RFC 5612, documentation) .2631; the one
 * place the arc is written in C. */
#define CUSTODY_MIB 1, 3, 6, 1, 4, 1, 32473, 2631
static const oid sys_uptime_oid[] = {1, 3, 6, 1, 2, 1, 1, 3, 0};
static const oid trap_oid_oid[] = {1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0};
static const oid n_raised[] = {CUSTODY_MIB, 0, 1};
static const oid n_cleared[] = {CUSTODY_MIB, 0, 2};
static const oid n_once[] = {CUSTODY_MIB, 0, 3};
enum { OBJ_ID = 1, OBJ_TYPE, OBJ_CAMERA, OBJ_SEVERITY, OBJ_TIME, OBJ_DETAIL, OBJ_SOURCE, OBJ_SITE };

static pthread_once_t snmp_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t snmp_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t started_mono;

/* Every line net-snmp would log comes here and is dropped: without a
 * handler of its own, net-snmp prints to stderr (its MIB loader reports each
 * module it cannot find even with snmp_disable_log). */
static int
drop_log(int major, int minor, void *server_arg, void *client_arg)
{
	return 0;
}

static void
snmp_setup(void)
{
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_LOAD_HOST_FILES, 1);
	netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_NO_TOKEN_WARNINGS, 1);
	/* init_snmp always runs the TLS transport's bootstrap, which makes
	 * <persistent dir>/cert_indexes and scans <config dirs>/tls/ for
	 * certificates, whatever the switches above say. Both directories are
	 * set below /dev/null, where nothing can be read or created, not even by
	 * root (ENOTDIR): the attempt fails quietly and nothing is written. */
	netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR, NO_DIR);
	netsnmp_ds_set_string(NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_CONFIGURATION_DIR, NO_DIR);
	/* no MIB directory: nothing to search, nothing to load */
	netsnmp_set_mib_directory("");
	snmp_register_callback(SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, drop_log, NULL);
	netsnmp_register_loghandler(NETSNMP_LOGHANDLER_CALLBACK, LOG_DEBUG);
	init_snmp("custody");
	started_mono = cu_time_mono_us();
}

static int
printable(const char *s, size_t min, size_t max, const char *what)
{
	size_t len = s != NULL ? strlen(s) : 0;
	if (len < min || len > max)
		return cu_fail(CU_ERR_INVAL, "%s: %zu bytes, %zu to %zu", what, len, min, max);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return cu_fail(CU_ERR_INVAL, "%s: byte %zu: printable ASCII only", what, i);
	return 0;
}

int
cu_snmp_version_parse(const char *s, enum cu_snmp_version *ret)
{
	if (s != NULL && strcmp(s, "2c") == 0)
		*ret = CU_SNMP_V2C;
	else if (s != NULL && strcmp(s, "3") == 0)
		*ret = CU_SNMP_V3;
	else
		return cu_fail(CU_ERR_INVAL, "version: 2c (trap) or 3 (inform)");
	return 0;
}

int
cu_snmp_target_check(const struct cu_snmp_target *t, bool secrets)
{
	int r;
	if (t == NULL)
		return cu_fail(CU_ERR_INVAL, "no target");
	size_t hl = t->host != NULL ? strlen(t->host) : 0;
	if (hl == 0 || hl > CU_NOTIFY_HOST_MAX)
		return cu_fail(CU_ERR_INVAL, "host: 1 to %d bytes", CU_NOTIFY_HOST_MAX);
	size_t bad = cu_notice_span(t->host, hl, true, "-.:");
	if (bad < hl)
		return cu_fail(CU_ERR_INVAL, "host: byte %zu: a name or an IP address", bad);
	if (t->version == CU_SNMP_V2C) {
		if (secrets && (r = printable(t->community, 1, SNMP_COMMUNITY_MAX, "community")) < 0)
			return r;
	} else if (t->version == CU_SNMP_V3) {
		if ((r = printable(t->user, 1, SNMP_USER_MAX, "user")) < 0)
			return r;
		if (!secrets)
			goto limits;
		size_t al = t->auth_pass != NULL ? strlen(t->auth_pass) : 0;
		size_t pl = t->priv_pass != NULL ? strlen(t->priv_pass) : 0;
		if (al < SNMP_PASS_MIN || al > CU_NOTIFY_SECRET_MAX)
			return cu_fail(CU_ERR_INVAL, "auth passphrase: %d to %d bytes", SNMP_PASS_MIN,
			               CU_NOTIFY_SECRET_MAX);
		if (pl < SNMP_PASS_MIN || pl > CU_NOTIFY_SECRET_MAX)
			return cu_fail(CU_ERR_INVAL, "priv passphrase: %d to %d bytes", SNMP_PASS_MIN,
			               CU_NOTIFY_SECRET_MAX);
	} else {
		return cu_fail(CU_ERR_INVAL, "version: 2c (trap) or 3 (inform)");
	}
limits:
	if (t->timeout_ms > CU_NOTIFY_TIMEOUT_MS_MAX || t->retries > CU_SNMP_RETRIES_MAX)
		return cu_fail(CU_ERR_INVAL, "timeout at most %d ms, retries at most %d",
		               CU_NOTIFY_TIMEOUT_MS_MAX, CU_SNMP_RETRIES_MAX);
	return 0;
}

static bool
add_text(netsnmp_pdu *pdu, int obj, const char *s)
{
	oid name[] = {CUSTODY_MIB, 1, (oid)obj, 0};
	char buf[SNMP_TEXT_MAX + 1];
	/* a longer detail or site is cut at a character boundary (CustodyText) */
	cu_fmt_cut(buf, sizeof(buf), "%s", s != NULL ? s : "");
	return snmp_pdu_add_variable(pdu, name, OID_LENGTH(name), ASN_OCTET_STR, buf,
	                             strlen(buf)) != NULL;
}

static bool
add_varbinds(netsnmp_pdu *pdu, const struct cu_notice *n)
{
	const oid *trap = n_once;
	size_t trap_len = OID_LENGTH(n_once);
	if (strcmp(n->phase, "raise") == 0)
		trap = n_raised, trap_len = OID_LENGTH(n_raised);
	else if (strcmp(n->phase, "clear") == 0)
		trap = n_cleared, trap_len = OID_LENGTH(n_cleared);
	/* sysUpTime.0: this process's time since the channel started, in
	 * hundredths of a second (TimeTicks wrap after 497 days) */
	long ticks = (long)(((cu_time_mono_us() - started_mono) / 10000) % 4294967296LL);
	struct cu_civil c;
	cu_notice_civil(n->t_us, &c);  /* checked by cu_notice_check */
	u_char when[11] = {(u_char)(c.year >> 8), (u_char)(c.year & 0xff), (u_char)c.month,
	                   (u_char)c.day, (u_char)c.hour, (u_char)c.min, (u_char)c.sec,
	                   (u_char)(c.usec / 100000), '+', 0, 0};
	long severity = cu_notice_severity(n->severity);
	oid sev_name[] = {CUSTODY_MIB, 1, OBJ_SEVERITY, 0};
	oid time_name[] = {CUSTODY_MIB, 1, OBJ_TIME, 0};
	return snmp_pdu_add_variable(pdu, sys_uptime_oid, OID_LENGTH(sys_uptime_oid), ASN_TIMETICKS,
	                             &ticks, sizeof(ticks)) != NULL &&
	       snmp_pdu_add_variable(pdu, trap_oid_oid, OID_LENGTH(trap_oid_oid), ASN_OBJECT_ID,
	                             trap, trap_len * sizeof(oid)) != NULL &&
	       add_text(pdu, OBJ_CAMERA, n->camera) && add_text(pdu, OBJ_TYPE, n->type) &&
	       snmp_pdu_add_variable(pdu, sev_name, OID_LENGTH(sev_name), ASN_INTEGER, &severity,
	                             sizeof(severity)) != NULL &&
	       snmp_pdu_add_variable(pdu, time_name, OID_LENGTH(time_name), ASN_OCTET_STR, when,
	                             sizeof(when)) != NULL &&
	       add_text(pdu, OBJ_DETAIL, n->detail) && add_text(pdu, OBJ_ID, n->id) &&
	       add_text(pdu, OBJ_SOURCE, n->source) && add_text(pdu, OBJ_SITE, n->site);
}

/* net-snmp's message for the session's last error, into err. */
static void
session_error(void *ss, netsnmp_session *s, const char *what, char *err, size_t errlen)
{
	int liberr = 0, syserr = 0;
	char *msg = NULL;
	if (ss != NULL)
		snmp_sess_error(ss, &liberr, &syserr, &msg);
	else
		snmp_error(s, &liberr, &syserr, &msg);
	cu_fmt_cut(err, errlen, "%s: %s", what, msg != NULL ? msg : "unknown error");
	free(msg);
}

/* Forgets the USM user the session created in net-snmp's global table
 * (usm_free_user zeroes its keys), so that no key outlives the send and a
 * changed passphrase is used the next time. */
static void
forget_user(void *ss)
{
	netsnmp_session *s = snmp_sess_session(ss);
	if (s == NULL || s->securityName == NULL || s->securityEngineIDLen == 0)
		return;
	struct usmUser *u = usm_get_user(s->securityEngineID, s->securityEngineIDLen,
	                                 s->securityName);
	if (u != NULL) {
		usm_remove_user(u);
		usm_free_user(u);
	}
}

enum cu_send
cu_snmp_send(const struct cu_snmp_target *t, const struct cu_notice *n, char *err, size_t errlen)
{
	if (cu_snmp_target_check(t, true) < 0 || cu_notice_check(n) < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return CU_SEND_REFUSED;
	}
	char peer[CU_NOTIFY_HOST_MAX + 24];
	unsigned port = t->port != 0 ? t->port : TRAP_PORT;
	int r = strchr(t->host, ':') != NULL
	                ? cu_path(peer, sizeof(peer), "udp6:[%s]:%u", t->host, port)
	                : cu_path(peer, sizeof(peer), "udp:%s:%u", t->host, port);
	if (r < 0) {
		cu_fmt_cut(err, errlen, "%s", cu_error_detail());
		return CU_SEND_REFUSED;
	}
	pthread_once(&snmp_once, snmp_setup);
	pthread_mutex_lock(&snmp_lock);
	enum cu_send res = CU_SEND_RETRY;
	void *ss = NULL;
	netsnmp_pdu *pdu = NULL, *resp = NULL;
	netsnmp_session s;
	snmp_sess_init(&s);
	s.peername = peer;
	s.timeout = (long)(t->timeout_ms != 0 ? t->timeout_ms : SNMP_TIMEOUT_MS) * 1000;
	s.retries = (int)t->retries;
	if (t->version == CU_SNMP_V2C) {
		s.version = SNMP_VERSION_2c;
		s.community = (u_char *)(uintptr_t)t->community;
		s.community_len = strlen(t->community);
	} else {
		s.version = SNMP_VERSION_3;
		s.securityName = (char *)(uintptr_t)t->user;
		s.securityNameLen = strlen(t->user);
		s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;
		s.securityAuthProto = usmHMACSHA1AuthProtocol;
		s.securityAuthProtoLen = OID_LENGTH(usmHMACSHA1AuthProtocol);
		s.securityAuthKeyLen = USM_AUTH_KU_LEN;
		s.securityPrivProto = usmAESPrivProtocol;
		s.securityPrivProtoLen = OID_LENGTH(usmAESPrivProtocol);
		s.securityPrivKeyLen = USM_PRIV_KU_LEN;
		/* Ku from the passphrases (RFC 3414 A.2.2); net-snmp localises them
		 * to the receiver's engine ID once discovery has found it */
		if (generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen,
		                (const u_char *)t->auth_pass, strlen(t->auth_pass), s.securityAuthKey,
		                &s.securityAuthKeyLen) != SNMPERR_SUCCESS ||
		    generate_Ku(s.securityAuthProto, (u_int)s.securityAuthProtoLen,
		                (const u_char *)t->priv_pass, strlen(t->priv_pass), s.securityPrivKey,
		                &s.securityPrivKeyLen) != SNMPERR_SUCCESS) {
			cu_fmt_cut(err, errlen, "snmp: cannot derive the USM keys");
			res = CU_SEND_REFUSED;
			goto out;
		}
	}
	/* v3: opening discovers the receiver's engine ID (a probe with an empty
	 * engine ID that the receiver answers with a report) */
	ss = snmp_sess_open(&s);
	if (ss == NULL) {
		session_error(NULL, &s, "snmp: cannot reach the manager", err, errlen);
		goto out;
	}
	pdu = snmp_pdu_create(t->version == CU_SNMP_V3 ? SNMP_MSG_INFORM : SNMP_MSG_TRAP2);
	if (pdu == NULL || !add_varbinds(pdu, n)) {
		cu_fmt_cut(err, errlen, "snmp: out of memory building the notification");
		goto out;
	}
	if (t->version == CU_SNMP_V2C) {
		if (snmp_sess_send(ss, pdu) == 0) {
			session_error(ss, NULL, "snmp: trap not sent", err, errlen);
			goto out;   /* pdu is still ours */
		}
		pdu = NULL;
		res = CU_SEND_OK;
		goto out;
	}
	int st = snmp_sess_synch_response(ss, pdu, &resp);
	pdu = NULL;   /* freed by net-snmp */
	if (st == STAT_SUCCESS && resp != NULL && resp->errstat == SNMP_ERR_NOERROR) {
		res = CU_SEND_OK;
	} else if (st == STAT_TIMEOUT) {
		cu_fmt_cut(err, errlen, "snmp: the inform was not acknowledged within %u ms x %u",
		           t->timeout_ms != 0 ? t->timeout_ms : SNMP_TIMEOUT_MS, t->retries + 1);
	} else if (st == STAT_SUCCESS) {
		cu_fmt_cut(err, errlen, "snmp: the manager answered the inform with error %ld (%s)",
		           resp != NULL ? resp->errstat : 0L,
		           snmp_errstring(resp != NULL ? (int)resp->errstat : 0));
	} else {
		session_error(ss, NULL, "snmp: the inform was not acknowledged", err, errlen);
	}
out:
	if (resp != NULL)
		snmp_free_pdu(resp);
	if (pdu != NULL)
		snmp_free_pdu(pdu);
	if (ss != NULL) {
		if (t->version == CU_SNMP_V3)
			forget_user(ss);
		snmp_sess_close(ss);
	}
	cu_wipe(s.securityAuthKey, sizeof(s.securityAuthKey));
	cu_wipe(s.securityPrivKey, sizeof(s.securityPrivKey));
	pthread_mutex_unlock(&snmp_lock);
	return res;
}
