/* custodyd's configuration file: a small strict INI-like format of our own
 * (docs/config.md). Every error names the line and the reason. */
#ifndef CD_CONFIG_H
#define CD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/onvif.h"
#include "custody/rtsp.h"
#include "custody/store.h"
#include "notify_conf.h"

#define CD_CONFIG_MAX (1024 * 1024)   /* bytes in a configuration file */
#define CD_LINE_MAX 2048
#define CD_CAMERAS_MAX 256

struct cd_camera {
	char name[CU_CAMERA_NAME_MAX + 1];
	char url[CU_RTSP_URL_MAX];
	char credentials_file[PATH_MAX];  /* "" = none */
	char ca_file[PATH_MAX];           /* "" = none */
	bool have_pin;
	uint8_t pin[CU_SHA256_LEN];
	bool require_tls;
	bool allow_redirect;
	bool enabled;
	int64_t max_age_us;               /* 0 = the store's */
	uint64_t max_bytes;               /* 0 = the store's */
	int tamper;                       /* tamper analysis: -1 as [daemon] says, 0 off, 1 on */
	int line;                         /* where its section starts */
	/* camera events over ONVIF (docs/onvif-events.md); onvif "" = none */
	char onvif[CU_ONVIF_URL_MAX];     /* the event service URL */
	char onvif_credentials[PATH_MAX]; /* "" = no UsernameToken */
	char onvif_ca[PATH_MAX];          /* https: "" = the system's CAs */
	int64_t onvif_termination_us;     /* subscription length asked for */
};

/* onvif_termination: bounds and default. */
#define CD_ONVIF_TERMINATION_DEFAULT_US (60 * INT64_C(1000000))
#define CD_ONVIF_TERMINATION_MIN_US (2 * INT64_C(1000000))
#define CD_ONVIF_TERMINATION_MAX_US (3600 * INT64_C(1000000))

#define CD_HTTPS_NAMES_MAX 16

struct cd_https {
	bool enabled;                     /* an [https] section was given */
	char listen[64];                  /* address; default 127.0.0.1 */
	int port;                         /* default 8443; 0 = any free port */
	char cert_file[PATH_MAX];         /* operator's chain + key, or "" = the store's */
	char key_file[PATH_MAX];
	size_t nnames;                    /* names of the store-issued certificate */
	char names[CD_HTTPS_NAMES_MAX][254];
	bool audit_views;                 /* default yes */
	char player[PATH_MAX];            /* custody for player folders; "" = beside custodyd */
	int64_t token_lifetime_us;        /* access tokens issued by login and renewal; 10 min */
};

/* [https] token_lifetime: bounds (docs/config.md) */
#define CD_TOKEN_LIFETIME_MIN_US (60 * INT64_C(1000000))
#define CD_TOKEN_LIFETIME_MAX_US (3600 * INT64_C(1000000))

/* [web]: the browser client (docs/config.md). */
#define CD_WEB_IDLE_DEFAULT_US (900 * INT64_C(1000000))
#define CD_WEB_IDLE_MIN_US (60 * INT64_C(1000000))
#define CD_WEB_IDLE_MAX_US (86400 * INT64_C(1000000))

struct cd_web {
	bool given;                       /* a [web] section was given */
	int64_t idle_timeout_us;          /* the client logs out after this long idle; 15 min */
};

/* The integrity watch (daemon/watch.c, docs/config.md) */
#define CD_VERIFY_INTERVAL_DEFAULT_US (86400 * INT64_C(1000000))
#define CD_VERIFY_INTERVAL_MIN_US (10 * INT64_C(1000000))
#define CD_VERIFY_INTERVAL_MAX_US (30 * 86400 * INT64_C(1000000))

struct cd_watch_config {
	int64_t verify_interval_us;       /* the whole store this often; 0 = never (off); 24 h */
	bool verify_after_seal;           /* each segment once it is closed; default on */
};

/* [daemon] tamper*: video tamper analysis (docs/tamper-analysis.md). */
#define CD_TAMPER_INTERVAL_DEFAULT_US INT64_C(1000000)
#define CD_TAMPER_INTERVAL_MIN_US INT64_C(100000)
#define CD_TAMPER_INTERVAL_MAX_US (60 * INT64_C(1000000))
#define CD_TAMPER_PERSIST_MIN_US INT64_C(1000000)
#define CD_TAMPER_LEARN_MIN_US INT64_C(1000000)

struct cd_tamper_conf {
	bool on;                          /* every camera's default; default no */
	int64_t interval_us;              /* a key frame analysed at most this often; 1 s */
	int64_t persistence_us;           /* a condition holds this long to be raised; 3 s */
	int64_t learn_us;                 /* baselines learned over this; 30 s */
};

struct cd_config {
	char store[PATH_MAX];
	char password_file[PATH_MAX];
	char events[PATH_MAX];            /* JSON-lines event log; "" = none */
	int64_t offline_after_us;         /* default 5 s */
	int64_t retention_interval_us;    /* default 60 s */
	int64_t reconnect_min_us, reconnect_max_us; /* default 1 s, 60 s */
	int64_t max_age_us;               /* store-wide defaults; 0 = none */
	uint64_t max_bytes;
	struct cd_watch_config watch;
	struct cd_https https;
	struct cd_web web;
	struct cd_notify_conf notify;     /* [notify], [rule NAME], [webhook NAME] (notify_conf.h) */
	struct cd_tamper_conf tamper;
	size_t ncameras;
	struct cd_camera cameras[CD_CAMERAS_MAX];
};

/* Parses text (len bytes). Relative paths are taken relative to dir. On
 * error returns -1 and writes "line N: reason" into err. */
int cd_config_parse(const char *text, size_t len, const char *dir, struct cd_config *ret,
                    char *err, size_t errlen);

/* A path value of key: relative ones are taken relative to dir (the
 * configuration file's). 0, or -1 with the reason in why (empty, too long). */
int cd_config_path(const char *dir, const char *key, const char *v, char *out, size_t len,
                   char *why, size_t whylen);

/* Reads and parses a file (at most CD_CONFIG_MAX bytes; symlinks refused). */
int cd_config_load(const char *path, struct cd_config *ret, char *err, size_t errlen);

/* Reads a credentials file: first line the user name, second the password.
 * Refused when readable by others. */
int cd_credentials_load(const char *path, char *user, size_t ulen, char *password, size_t plen,
                        char *err, size_t errlen);

#endif
