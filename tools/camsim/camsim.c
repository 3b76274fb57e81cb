/* custody-camsim: serves N simulated cameras over RTSP (and RTSPS) on the
 * loopback interface, for the integration tests, the demo and the benchmarks.
 *
 * Each camera is a shared GstRTSPMediaFactory mounted at /camN whose pipeline
 * is either an encoded live test pattern with the wall clock burned in, or a
 * real-time replay of a file, looped, without re-encoding. A control socket
 * injects the faults a recorder must survive (stall, disconnect, refused
 * connections, black picture; with --tamper a covered lens, a blurred picture
 * and a moved camera) and reports how many frames each camera has
 * sent, so that tests can compare what was sent with what was recorded.
 * tools/camsim/README.md describes the command line and the control protocol.
 *
 * Threads: the main loop (control socket, signals, listening sockets) runs in
 * the main thread; GStreamer streaming threads run the probes and the file
 * feeder, which only touch atomics and their own feeder state. Per-camera
 * element references are guarded by the camera's mutex. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/rtp/gstrtpbuffer.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <gst/video/video.h>

#include "onvif.h"

/* ---- limits (STYLE.md habit 5) ---- */
#define CAMSIM_CAMERAS_MAX 64
#define CAMSIM_DIM_MIN 32                  /* pixels, each side */
#define CAMSIM_WIDTH_MAX 3840
#define CAMSIM_HEIGHT_MAX 2160
#define CAMSIM_FPS_MAX 60
#define CAMSIM_BITRATE_MIN 16              /* kbit/s */
#define CAMSIM_BITRATE_MAX 50000
#define CAMSIM_GOP_MAX 600                 /* frames between key frames */
#define CAMSIM_USER_MAX 64                 /* bytes of a user name */
#define CAMSIM_PASSWORD_MAX 256            /* bytes of a password file */
#define CAMSIM_FILE_BYTES_MAX (256u << 20) /* media file replayed from memory */
#define CAMSIM_FILE_FRAMES_MAX 216000      /* two hours at 30 fps */
#define CAMSIM_FILE_LOAD_USEC (60 * G_USEC_PER_SEC)
#define CAMSIM_FEED_LATE_MAX (200 * GST_MSECOND) /* later than this: re-anchor, no burst */
#define CAMSIM_FEED_GAP_MAX GST_SECOND     /* longest wait between two frames */
#define CAMSIM_CTL_LINE_MAX 256            /* bytes of a control command, without LF */
#define CAMSIM_CTL_CONNS_MAX 8             /* control connections at once */
#define CAMSIM_UDP_PORT_MIN 20000          /* RTP/RTCP over UDP, loopback only */
#define CAMSIM_UDP_PORT_MAX 29999
#define CAMSIM_SHUTDOWN_USEC (300 * 1000)  /* to flush client closes on exit */
#define CAMSIM_BLUR_SIGMA 4.0              /* the blur fault, pixels */
#define CAMSIM_COVER_CONTRAST 0.15         /* the cover fault: snow this dim */

#define CAMSIM_ADDRESS "127.0.0.1"
#define CAMSIM_REALM "custody-camsim"
#define CAMSIM_ROLE "viewer"
#define CAMSIM_MEDIA_KEY "camsim-camera"
#define CAMSIM_TIME_FORMAT "%Y-%m-%dT%H:%M:%SZ" /* TZ is forced to UTC */

/* Exit statuses: 0 clean stop, 1 failure while running, 2 bad command line,
 * 3 a GStreamer element this configuration needs is not installed. */
enum { EXIT_RUN = 1, EXIT_USAGE = 2, EXIT_MISSING = 3 };

enum codec { CODEC_H264, CODEC_H265 };
enum container { CONTAINER_MP4, CONTAINER_MATROSKA };

/* What a configuration is made of; an element is needed when every condition
 * of its entry holds (0: always). */
enum {
	USE_PATTERN = 1 << 0,          /* the encoded test pattern */
	USE_FILE = 1 << 1,             /* a replayed --file */
	USE_H264 = 1 << 2,
	USE_H265 = 1 << 3,
	USE_MP4 = 1 << 4,
	USE_MATROSKA = 1 << 5,
	USE_TAMPER = 1 << 6,           /* --tamper: the cover, blur and shift faults */
};

/* Every GStreamer element camsim may run, ours (the launch lines below) and
 * gst-rtsp-server's (the RTP session, the UDP and TCP outputs), with the
 * Debian 12 package whose plugin provides it. The start check names the
 * package when an element is missing; the test run checks that each package
 * is the one that owns the plugin file and that scripts/bootstrap installs it
 * (tests/integration/test_deps.py), and that a running camera uses no element
 * outside this table (the "elements" control command, test_camsim.py). */
static const struct element_need {
	const char *name;
	const char *package;
	unsigned when;                 /* USE_* bits that must all hold */
} element_needs[] = {
	{ "videotestsrc", "gstreamer1.0-plugins-base", USE_PATTERN },
	{ "capsfilter", "libgstreamer1.0-0", 0 },
	{ "clockoverlay", "gstreamer1.0-x", USE_PATTERN },
	{ "x264enc", "gstreamer1.0-plugins-ugly", USE_PATTERN | USE_H264 },
	{ "x265enc", "gstreamer1.0-plugins-bad", USE_PATTERN | USE_H265 },
	{ "appsrc", "gstreamer1.0-plugins-base", 0 },
	{ "appsink", "gstreamer1.0-plugins-base", 0 },
	{ "filesrc", "libgstreamer1.0-0", USE_FILE },
	{ "qtdemux", "gstreamer1.0-plugins-good", USE_FILE | USE_MP4 },
	{ "matroskademux", "gstreamer1.0-plugins-good", USE_FILE | USE_MATROSKA },
	{ "h264parse", "gstreamer1.0-plugins-bad", USE_FILE | USE_H264 },
	{ "h265parse", "gstreamer1.0-plugins-bad", USE_FILE | USE_H265 },
	{ "videobox", "gstreamer1.0-plugins-good", USE_PATTERN | USE_TAMPER },
	{ "videoconvert", "gstreamer1.0-plugins-base", USE_PATTERN | USE_TAMPER },
	{ "gaussianblur", "gstreamer1.0-plugins-bad", USE_PATTERN | USE_TAMPER },
	{ "videobalance", "gstreamer1.0-plugins-good", USE_PATTERN | USE_TAMPER },
	{ "valve", "libgstreamer1.0-0", 0 },
	{ "rtph264pay", "gstreamer1.0-plugins-good", USE_H264 },
	{ "rtph265pay", "gstreamer1.0-plugins-good", USE_H265 },
	{ "rtpbin", "gstreamer1.0-plugins-good", 0 },
	{ "rtpsession", "gstreamer1.0-plugins-good", 0 },
	{ "rtpssrcdemux", "gstreamer1.0-plugins-good", 0 },
	{ "rtpstorage", "gstreamer1.0-plugins-good", 0 },
	{ "udpsrc", "gstreamer1.0-plugins-good", 0 },
	{ "multiudpsink", "gstreamer1.0-plugins-good", 0 },
	{ "tee", "libgstreamer1.0-0", 0 },
	{ "funnel", "libgstreamer1.0-0", 0 },
	{ "bin", "libgstreamer1.0-0", 0 },
	{ "pipeline", "libgstreamer1.0-0", 0 },
};

struct options {
	unsigned port;                 /* 0: any free port */
	unsigned tls_port;
	GTlsCertificate *cert;         /* RTSPS certificate and key, or NULL */
	unsigned cameras;              /* 1..CAMSIM_CAMERAS_MAX */
	enum codec codec;
	unsigned fps, width, height, bitrate, gop;
	const char *file;              /* replay instead of the test pattern */
	enum container container;      /* of file, from its magic bytes */
	char *user;                    /* Digest user, NULL: anonymous access */
	char *password;                /* wiped and freed after use */
	const char *control;           /* Unix socket path, or NULL */
	const char *pid_file;
	bool onvif;                    /* --onvif-port given */
	unsigned onvif_port;           /* 0: any free port */
	bool tamper;                   /* the pattern runs through the tamper faults' elements */
};

/* One replayed access unit, as the demuxer and parser gave it. */
struct frame {
	GstBuffer *buf;
	GstClockTime dts;              /* decode time (PTS when the file has no DTS) */
	GstClockTime pts;              /* may be GST_CLOCK_TIME_NONE */
};

/* A media file loaded into memory once and replayed by every camera. */
struct clip {
	GstCaps *caps;                 /* parsed caps, codec_data included */
	struct frame *frames;
	size_t n;
	size_t cap;                    /* frames allocated */
	GstClockTime first;            /* dts of frames[0] */
	GstClockTime period;           /* one loop, > 0 */
};

struct camera;

/* The elements of one running pipeline (a GstRTSPMedia) of a camera. Owned by
 * camera.pipes; freed when its media is finalised (a weak reference). */
struct pipe {
	struct camera *cam;
	GstElement *src;               /* videotestsrc or appsrc */
	GstElement *enc;               /* NULL when replaying a file */
	GstElement *valve;
	GstElement *shift, *blur, *cover; /* videobox, gaussianblur, videobalance (--tamper) */
};

struct camera {
	unsigned index;                /* 1-based */
	char name[16];                 /* "camN" */
	char path[16];                 /* "/camN" */
	unsigned width, height;        /* of the test pattern */
	const struct clip *clip;       /* NULL for the test pattern */
	GMutex lock;                   /* guards pipes, stalled, black, the tamper faults */
	GPtrArray *pipes;              /* of struct pipe * */
	bool stalled;
	bool black;
	bool covered, blurred, shifted; /* tamper faults (--tamper) */
	atomic_bool want_key;          /* drop delta units until a key frame */
	atomic_uint_fast64_t frames;   /* RTP packets with the marker bit, leaving pay0 */
};

/* Per-media state of the file feeder, touched only by appsrc's thread. */
struct feeder {
	const struct clip *clip;
	size_t next;                   /* index into clip->frames */
	uint64_t loops;                /* completed loops */
	gint64 offset;                 /* running time minus file time, ns */
	bool anchored;
};

struct control_conn;

struct app {
	struct options opt;
	struct clip *clip;
	struct camera cams[CAMSIM_CAMERAS_MAX];
	GstRTSPMountPoints *mounts;
	GstRTSPServer *servers[2];     /* [0] plain RTSP, [1] RTSPS or NULL */
	GSource *listening[2];         /* accept sources, NULL while refusing */
	GSource *pool_watch[2];
	int ports[2];                  /* bound ports */
	GMainLoop *loop;
	/* control socket */
	GSocket *ctl;
	GSource *ctl_src;
	bool ctl_bound;                /* the socket file is ours to remove */
	GList *conns;                  /* of struct control_conn * */
	unsigned nconns;
	bool pid_written;
	struct onvif_sim *onvif;       /* the ONVIF event service, or NULL */
};

struct control_conn {
	struct app *app;
	GSocket *sock;
	GSource *src;
	char buf[CAMSIM_CTL_LINE_MAX + 2]; /* a line, its LF, and a NUL */
	size_t len;
};

/* ---- the factory: one shared media per camera, whatever the URL ---- */

/* The Debian package of an element of element_needs, for messages. */
static const char *element_package(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(element_needs); i++)
		if (strcmp(element_needs[i].name, name) == 0)
			return element_needs[i].package;
	return "not in camsim's element table";
}

/* A camera's media: logs why its pipeline fails (an element that cannot
 * start, an encoder error) before gst-rtsp-server turns it into a 503 or a
 * closed stream. */
#define CAMSIM_TYPE_MEDIA (camsim_media_get_type())
G_DECLARE_FINAL_TYPE(CamsimMedia, camsim_media, CAMSIM, MEDIA, GstRTSPMedia)

struct _CamsimMedia {
	GstRTSPMedia parent;
};

G_DEFINE_TYPE(CamsimMedia, camsim_media, GST_TYPE_RTSP_MEDIA)

static gboolean media_handle_message(GstRTSPMedia *media, GstMessage *msg)
{
	if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
		const struct camera *cam = g_object_get_data(G_OBJECT(media), CAMSIM_MEDIA_KEY);
		GError *err = NULL;
		gchar *debug = NULL;

		gst_message_parse_error(msg, &err, &debug);
		fprintf(stderr, "camsim: %s: the stream failed in %s: %s%s%s%s\n",
		        cam != NULL ? cam->name : "a camera",
		        GST_MESSAGE_SRC_NAME(msg) != NULL ? GST_MESSAGE_SRC_NAME(msg) : "?",
		        err != NULL ? err->message : "unknown error", debug != NULL ? " (" : "",
		        debug != NULL ? debug : "", debug != NULL ? ")" : "");
		g_clear_error(&err);
		g_free(debug);
	}
	return GST_RTSP_MEDIA_CLASS(camsim_media_parent_class)->handle_message(media, msg);
}

static void camsim_media_class_init(CamsimMediaClass *klass)
{
	GST_RTSP_MEDIA_CLASS(klass)->handle_message = media_handle_message;
}

static void camsim_media_init(CamsimMedia *self)
{
}

/* GstRTSPMediaFactory shares a media between clients whose URL gives the same
 * key; the default key has the host and port in it, so clients of the RTSP
 * and the RTSPS server (or of "localhost" and "127.0.0.1") would each get
 * their own pipeline and the frame counters would mean nothing. This subclass
 * keys every media by its mount path only. */
#define CAMSIM_TYPE_FACTORY (camsim_factory_get_type())
G_DECLARE_FINAL_TYPE(CamsimFactory, camsim_factory, CAMSIM, FACTORY, GstRTSPMediaFactory)

struct _CamsimFactory {
	GstRTSPMediaFactory parent;
	const struct camera *cam;
};

G_DEFINE_TYPE(CamsimFactory, camsim_factory, GST_TYPE_RTSP_MEDIA_FACTORY)

static gchar *factory_gen_key(GstRTSPMediaFactory *factory, const GstRTSPUrl *url)
{
	return g_strdup(CAMSIM_FACTORY(factory)->cam->path);
}

/* Builds the camera's pipeline from its launch line. Unlike the default, a
 * missing element is fatal here and the reason is logged: without this, the
 * client only sees "503 Service Unavailable" and the log says nothing. */
static GstElement *factory_create_element(GstRTSPMediaFactory *factory, const GstRTSPUrl *url)
{
	const struct camera *cam = CAMSIM_FACTORY(factory)->cam;
	gchar *launch = gst_rtsp_media_factory_get_launch(factory);
	GstParseContext *ctx = gst_parse_context_new();
	GError *err = NULL;
	GstElement *e = gst_parse_launch_full(launch, ctx, GST_PARSE_FLAG_FATAL_ERRORS |
	                                      GST_PARSE_FLAG_PLACE_IN_BIN, &err);

	if (e == NULL || err != NULL) {
		gchar **missing = gst_parse_context_get_missing_elements(ctx);

		fprintf(stderr, "camsim: %s: cannot serve a client: the pipeline does not build: %s\n",
		        cam->name, err != NULL ? err->message : "unknown error");
		for (size_t i = 0; missing != NULL && missing[i] != NULL; i++)
			fprintf(stderr, "camsim: %s: the GStreamer element '%s' is missing (%s)\n",
			        cam->name, missing[i], element_package(missing[i]));
		g_strfreev(missing);
		g_clear_object(&e);
	}
	g_clear_error(&err);
	gst_parse_context_free(ctx);
	g_free(launch);
	return e;
}

static void camsim_factory_class_init(CamsimFactoryClass *klass)
{
	GST_RTSP_MEDIA_FACTORY_CLASS(klass)->gen_key = factory_gen_key;
	GST_RTSP_MEDIA_FACTORY_CLASS(klass)->create_element = factory_create_element;
}

static void camsim_factory_init(CamsimFactory *self)
{
}

/* ---- command-line checks ---- */

static void usage(FILE *out)
{
	fputs("usage: custody-camsim --port P [--tls-port P2 --cert FILE --key FILE]\n"
	      "         [--cameras N] [--codec h264|h265] [--fps F] [--size WxH]\n"
	      "         [--bitrate KBPS] [--gop FRAMES] [--file MEDIA]\n"
	      "         [--user U --password-file F] [--control SOCKET] [--pid-file F]\n"
	      "         [--onvif-port P]\n"
	      "         [--tamper]\n"
	      "       custody-camsim --list-elements\n"
	      "Serves simulated cameras at rtsp://127.0.0.1:P/cam1..camN; see\n"
	      "tools/camsim/README.md.\n", out);
}

/* Parses a whole decimal number in min..max (g_ascii_string_to_unsigned refuses
 * signs, spaces, trailing bytes and overflow). */
static int parse_uint(const char *what, const char *s, unsigned min, unsigned max,
                      unsigned *ret)
{
	guint64 v;

	if (!g_ascii_string_to_unsigned(s, 10, min, max, &v, NULL)) {
		fprintf(stderr, "camsim: %s: '%.32s' is not a whole number in %u..%u\n",
		        what, s, min, max);
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

static int parse_size(const char *s, unsigned *ret_w, unsigned *ret_h)
{
	const char *x = strchr(s, 'x');
	char wbuf[8];
	size_t wlen;
	unsigned w, h;

	if (x == NULL || (wlen = (size_t)(x - s)) == 0 || wlen >= sizeof(wbuf)) {
		fprintf(stderr, "camsim: --size: '%.32s' is not WIDTHxHEIGHT (like 640x360)\n", s);
		return -EINVAL;
	}
	memcpy(wbuf, s, wlen);
	wbuf[wlen] = '\0';
	if (parse_uint("--size width", wbuf, CAMSIM_DIM_MIN, CAMSIM_WIDTH_MAX, &w) < 0 ||
	    parse_uint("--size height", x + 1, CAMSIM_DIM_MIN, CAMSIM_HEIGHT_MAX, &h) < 0)
		return -EINVAL;
	if (w % 2 || h % 2) {
		fprintf(stderr, "camsim: --size: width and height must be even (4:2:0 video)\n");
		return -EINVAL;
	}
	*ret_w = w;
	*ret_h = h;
	return 0;
}

/* Opens a file named by the user: a regular file, not through a symlink. */
static int open_user_file(const char *what, const char *path, struct stat *ret_st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0) {
		fprintf(stderr, "camsim: %s: %s: %s\n", what, path, g_strerror(errno));
		return -1;
	}
	if (fstat(fd, ret_st) < 0 || !S_ISREG(ret_st->st_mode)) {
		fprintf(stderr, "camsim: %s: %s: not a regular file\n", what, path);
		close(fd);
		return -1;
	}
	return fd;
}

static int check_readable(const char *what, const char *path)
{
	struct stat st;
	int fd = open_user_file(what, path, &st);

	if (fd < 0)
		return -EINVAL;
	close(fd);
	return 0;
}

/* Reads the password file: mode 0600 or stricter, at most CAMSIM_PASSWORD_MAX
 * bytes, one line (a final LF or CRLF is dropped). The buffer is wiped on
 * every path; the password itself is never printed. */
static int read_password(const char *path, char **ret)
{
	char buf[CAMSIM_PASSWORD_MAX + 2];
	struct stat st;
	size_t len = 0;
	int fd, r = -EINVAL;

	fd = open_user_file("--password-file", path, &st);
	if (fd < 0)
		return -EINVAL;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		fprintf(stderr, "camsim: --password-file: %s: group or others may access it "
		        "(mode %03o); chmod 600 it\n", path, (unsigned)(st.st_mode & 0777));
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "camsim: --password-file: %s: %s\n", path, g_strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CAMSIM_PASSWORD_MAX) {
			fprintf(stderr, "camsim: --password-file: %s: longer than %d bytes\n", path,
			        CAMSIM_PASSWORD_MAX);
			goto out;
		}
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) || memchr(buf, '\r', len) || strlen(buf) != len) {
		fprintf(stderr, "camsim: --password-file: %s: must hold one non-empty line\n", path);
		goto out;
	}
	*ret = g_strndup(buf, len);
	r = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}

static int check_user(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > CAMSIM_USER_MAX) {
		fprintf(stderr, "camsim: --user: must be 1..%d bytes\n", CAMSIM_USER_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)u[i];

		if (c <= ' ' || c >= 0x7f || c == ':' || c == '"' || c == '\\') {
			fprintf(stderr, "camsim: --user: only printable ASCII without spaces, ':', "
			        "'\"' or '\\'\n");
			return -EINVAL;
		}
	}
	return 0;
}

/* Checks the media file and tells its container from its first bytes. */
static int check_media_file(const char *path, enum container *ret)
{
	static const unsigned char ebml[4] = { 0x1a, 0x45, 0xdf, 0xa3 };
	unsigned char head[12];
	struct stat st;
	ssize_t n;
	int fd, r = -EINVAL;

	fd = open_user_file("--file", path, &st);
	if (fd < 0)
		return -EINVAL;
	if ((uint64_t)st.st_size > CAMSIM_FILE_BYTES_MAX) {
		fprintf(stderr, "camsim: --file: %s: larger than %u MiB\n", path,
		        CAMSIM_FILE_BYTES_MAX >> 20);
		goto out;
	}
	do
		n = read(fd, head, sizeof(head));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(head) && memcmp(head + 4, "ftyp", 4) == 0) {
		*ret = CONTAINER_MP4;
		r = 0;
	} else if (n >= 4 && memcmp(head, ebml, sizeof(ebml)) == 0) {
		*ret = CONTAINER_MATROSKA;
		r = 0;
	} else {
		fprintf(stderr, "camsim: --file: %s: not an MP4/MOV or Matroska file\n", path);
	}
out:
	close(fd);
	return r;
}

/* Parses and checks the whole command line into ret. Returns 0, 1 when --help
 * or --list-elements was asked (and answered), or -EINVAL after printing what
 * is wrong. */
static int parse_args(int argc, char **argv, struct options *ret)
{
	gchar *port = NULL, *tls_port = NULL, *cameras = NULL, *codec = NULL, *fps = NULL;
	gchar *size = NULL, *bitrate = NULL, *gop = NULL, *password_file = NULL;
	gchar *cert = NULL, *key = NULL, *file = NULL, *user = NULL, *control = NULL;
	gchar *pid_file = NULL, *onvif_port = NULL;
	gboolean help = FALSE, list_elements = FALSE, tamper = FALSE;
	GOptionEntry entries[] = {
		{ "port", 0, 0, G_OPTION_ARG_STRING, &port, NULL, NULL },
		{ "tls-port", 0, 0, G_OPTION_ARG_STRING, &tls_port, NULL, NULL },
		{ "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert, NULL, NULL },
		{ "key", 0, 0, G_OPTION_ARG_FILENAME, &key, NULL, NULL },
		{ "cameras", 0, 0, G_OPTION_ARG_STRING, &cameras, NULL, NULL },
		{ "codec", 0, 0, G_OPTION_ARG_STRING, &codec, NULL, NULL },
		{ "fps", 0, 0, G_OPTION_ARG_STRING, &fps, NULL, NULL },
		{ "size", 0, 0, G_OPTION_ARG_STRING, &size, NULL, NULL },
		{ "bitrate", 0, 0, G_OPTION_ARG_STRING, &bitrate, NULL, NULL },
		{ "gop", 0, 0, G_OPTION_ARG_STRING, &gop, NULL, NULL },
		{ "file", 0, 0, G_OPTION_ARG_FILENAME, &file, NULL, NULL },
		{ "user", 0, 0, G_OPTION_ARG_STRING, &user, NULL, NULL },
		{ "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file, NULL, NULL },
		{ "control", 0, 0, G_OPTION_ARG_FILENAME, &control, NULL, NULL },
		{ "pid-file", 0, 0, G_OPTION_ARG_FILENAME, &pid_file, NULL, NULL },
		{ "onvif-port", 0, 0, G_OPTION_ARG_STRING, &onvif_port, NULL, NULL },
		{ "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
		{ "list-elements", 0, 0, G_OPTION_ARG_NONE, &list_elements, NULL, NULL },
		{ "tamper", 0, 0, G_OPTION_ARG_NONE, &tamper, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *ctx = g_option_context_new(NULL);
	GError *err = NULL;
	int r = -EINVAL;

	*ret = (struct options){ .cameras = 1, .codec = CODEC_H264, .fps = 25, .width = 640,
	                         .height = 360, .bitrate = 1000, .gop = 25 };
	g_option_context_set_help_enabled(ctx, FALSE);
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "camsim: %s\n", err->message);
		g_error_free(err);
		goto out;
	}
	if (help) {
		usage(stdout);
		r = 1;
		goto out;
	}
	if (list_elements) {
		for (size_t i = 0; i < G_N_ELEMENTS(element_needs); i++)
			printf("%s %s\n", element_needs[i].name, element_needs[i].package);
		r = 1;
		goto out;
	}
	if (argc > 1) {
		fprintf(stderr, "camsim: unexpected argument '%.64s'\n", argv[1]);
		goto out;
	}
	if (port == NULL) {
		fprintf(stderr, "camsim: --port is required (0 picks a free port)\n");
		goto out;
	}
	if (parse_uint("--port", port, 0, 65535, &ret->port) < 0)
		goto out;
	if (tls_port != NULL) {
		if (parse_uint("--tls-port", tls_port, 0, 65535, &ret->tls_port) < 0)
			goto out;
		if (ret->tls_port != 0 && ret->tls_port == ret->port) {
			fprintf(stderr, "camsim: --tls-port must differ from --port\n");
			goto out;
		}
		if (cert == NULL || key == NULL) {
			fprintf(stderr, "camsim: --tls-port needs --cert and --key\n");
			goto out;
		}
	} else if (cert != NULL || key != NULL) {
		fprintf(stderr, "camsim: --cert and --key need --tls-port\n");
		goto out;
	}
	if (cert != NULL) {
		if (check_readable("--cert", cert) < 0 || check_readable("--key", key) < 0)
			goto out;
		ret->cert = g_tls_certificate_new_from_files(cert, key, &err);
		if (ret->cert == NULL) {
			fprintf(stderr, "camsim: --cert/--key: %s\n", err->message);
			g_error_free(err);
			goto out;
		}
	}
	if (cameras != NULL &&
	    parse_uint("--cameras", cameras, 1, CAMSIM_CAMERAS_MAX, &ret->cameras) < 0)
		goto out;
	if (codec != NULL) {
		if (strcmp(codec, "h264") == 0) {
			ret->codec = CODEC_H264;
		} else if (strcmp(codec, "h265") == 0) {
			ret->codec = CODEC_H265;
		} else {
			fprintf(stderr, "camsim: --codec: '%.32s' is not h264 or h265\n", codec);
			goto out;
		}
	}
	if (file != NULL) {
		if (fps != NULL || size != NULL || bitrate != NULL || gop != NULL) {
			fprintf(stderr, "camsim: --fps, --size, --bitrate and --gop shape the test "
			        "pattern; a --file is replayed as it is\n");
			goto out;
		}
		if (check_media_file(file, &ret->container) < 0)
			goto out;
		if (tamper) {
			fprintf(stderr, "camsim: --tamper needs the test pattern, not --file\n");
			goto out;
		}
	}
	ret->tamper = tamper;
	if (fps != NULL && parse_uint("--fps", fps, 1, CAMSIM_FPS_MAX, &ret->fps) < 0)
		goto out;
	if (size != NULL && parse_size(size, &ret->width, &ret->height) < 0)
		goto out;
	if (bitrate != NULL &&
	    parse_uint("--bitrate", bitrate, CAMSIM_BITRATE_MIN, CAMSIM_BITRATE_MAX,
	               &ret->bitrate) < 0)
		goto out;
	if (gop != NULL && parse_uint("--gop", gop, 1, CAMSIM_GOP_MAX, &ret->gop) < 0)
		goto out;
	if ((user == NULL) != (password_file == NULL)) {
		fprintf(stderr, "camsim: --user and --password-file go together\n");
		goto out;
	}
	if (user != NULL && (check_user(user) < 0 || read_password(password_file, &ret->password) < 0))
		goto out;
	if (control != NULL) {
		size_t n = strlen(control);

		if (n == 0 || n >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			fprintf(stderr, "camsim: --control: socket path must be 1..%zu bytes\n",
			        sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
			goto out;
		}
	}
	if (onvif_port != NULL) {
		if (parse_uint("--onvif-port", onvif_port, 0, 65535, &ret->onvif_port) < 0)
			goto out;
		ret->onvif = true;
	}
	if (pid_file != NULL && pid_file[0] == '\0') {
		fprintf(stderr, "camsim: --pid-file: empty path\n");
		goto out;
	}
	/* The strings below live until exit; the others are freed here. */
	ret->file = g_steal_pointer(&file);
	ret->user = g_steal_pointer(&user);
	ret->control = g_steal_pointer(&control);
	ret->pid_file = g_steal_pointer(&pid_file);
	r = 0;
out:
	if (r < 0 && ret->cert != NULL)
		g_clear_object(&ret->cert);
	g_option_context_free(ctx);
	g_free(port);
	g_free(tls_port);
	g_free(cameras);
	g_free(codec);
	g_free(fps);
	g_free(size);
	g_free(bitrate);
	g_free(gop);
	g_free(password_file);
	g_free(cert);
	g_free(key);
	g_free(file);
	g_free(user);
	g_free(control);
	g_free(pid_file);
	g_free(onvif_port);
	return r;
}

/* ---- the file replayed ---- */

static void clip_free(struct clip *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		gst_buffer_unref(c->frames[i].buf);
	g_free(c->frames);
	if (c->caps)
		gst_caps_unref(c->caps);
	g_free(c);
}

static int clip_add(struct clip *c, GstSample *sample, size_t *bytes, const char *path)
{
	GstBuffer *buf = gst_sample_get_buffer(sample);
	struct frame *f;

	if (buf == NULL)
		return 0;
	if (c->n == CAMSIM_FILE_FRAMES_MAX) {
		fprintf(stderr, "camsim: --file: %s: more than %d frames\n", path,
		        CAMSIM_FILE_FRAMES_MAX);
		return -EINVAL;
	}
	*bytes += gst_buffer_get_size(buf);
	if (*bytes > CAMSIM_FILE_BYTES_MAX) {
		fprintf(stderr, "camsim: --file: %s: more than %u MiB of video\n", path,
		        CAMSIM_FILE_BYTES_MAX >> 20);
		return -EINVAL;
	}
	if (c->caps == NULL) {
		GstCaps *caps = gst_sample_get_caps(sample);

		if (caps == NULL || !gst_caps_is_fixed(caps)) {
			fprintf(stderr, "camsim: --file: %s: the parser gave no fixed caps\n", path);
			return -EINVAL;
		}
		c->caps = gst_caps_ref(caps);
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 256;
		c->frames = g_renew(struct frame, c->frames, c->cap);
	}
	f = &c->frames[c->n];
	f->dts = GST_BUFFER_DTS_IS_VALID(buf) ? GST_BUFFER_DTS(buf) : GST_BUFFER_PTS(buf);
	f->pts = GST_BUFFER_PTS(buf);
	if (!GST_CLOCK_TIME_IS_VALID(f->dts)) {
		fprintf(stderr, "camsim: --file: %s: frame %zu has no timestamp\n", path, c->n);
		return -EINVAL;
	}
	if (c->n > 0 && f->dts < c->frames[c->n - 1].dts) {
		fprintf(stderr, "camsim: --file: %s: decode times go backwards at frame %zu\n", path,
		        c->n);
		return -EINVAL;
	}
	f->buf = gst_buffer_ref(buf);
	c->n++;
	return 0;
}

/* Demuxes and parses the first video track of the file into memory, once:
 * every camera replays the same access units without re-encoding. */
static int clip_load(const struct options *opt, struct clip **ret)
{
	const char *demux = opt->container == CONTAINER_MP4 ? "qtdemux" : "matroskademux";
	const char *parse = opt->codec == CODEC_H264
	    ? "h264parse ! video/x-h264,stream-format=avc,alignment=au"
	    : "h265parse ! video/x-h265,stream-format=hvc1,alignment=au";
	struct clip *c = g_new0(struct clip, 1);
	GstElement *pipeline = NULL, *file = NULL, *sink = NULL;
	GstBus *bus = NULL;
	GError *err = NULL;
	gchar *desc;
	size_t bytes = 0;
	gint64 deadline = g_get_monotonic_time() + CAMSIM_FILE_LOAD_USEC;
	GstClockTime last_dur;
	int r = -EINVAL;

	/* The path is set as a property, never spliced into the description. */
	desc = g_strdup_printf("filesrc name=file ! %s name=demux demux.video_0 ! %s ! "
	                       "appsink name=sink sync=false max-buffers=32", demux, parse);
	pipeline = gst_parse_launch(desc, &err);
	g_free(desc);
	if (pipeline == NULL || err != NULL) {
		fprintf(stderr, "camsim: --file: cannot build the reader: %s\n",
		        err ? err->message : "unknown error");
		g_clear_error(&err);
		goto out;
	}
	file = gst_bin_get_by_name(GST_BIN(pipeline), "file");
	sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
	if (file == NULL || sink == NULL)
		goto out;
	g_object_set(file, "location", opt->file, NULL);
	bus = gst_element_get_bus(pipeline);
	if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		fprintf(stderr, "camsim: --file: %s: cannot start reading\n", opt->file);
		goto out;
	}
	for (;;) {
		GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 100 * GST_MSECOND);
		GstMessage *msg;

		if (sample != NULL) {
			int a = clip_add(c, sample, &bytes, opt->file);

			gst_sample_unref(sample);
			if (a < 0)
				goto out;
			continue;
		}
		if (gst_app_sink_is_eos(GST_APP_SINK(sink)))
			break;
		msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
		if (msg != NULL) {
			gst_message_parse_error(msg, &err, NULL);
			fprintf(stderr, "camsim: --file: %s: %s (is its video %s, as --codec says?)\n",
			        opt->file, err->message, opt->codec == CODEC_H264 ? "H.264" : "H.265");
			g_error_free(err);
			gst_message_unref(msg);
			goto out;
		}
		if (g_get_monotonic_time() > deadline) {
			fprintf(stderr, "camsim: --file: %s: reading took too long\n", opt->file);
			goto out;
		}
	}
	if (c->n == 0) {
		fprintf(stderr, "camsim: --file: %s: no %s video track\n", opt->file,
		        opt->codec == CODEC_H264 ? "H.264" : "H.265");
		goto out;
	}
	c->first = c->frames[0].dts;
	last_dur = GST_BUFFER_DURATION(c->frames[c->n - 1].buf);
	if (!GST_CLOCK_TIME_IS_VALID(last_dur) || last_dur == 0 || last_dur > CAMSIM_FEED_GAP_MAX)
		last_dur = c->n > 1 ? (c->frames[c->n - 1].dts - c->first) / (c->n - 1)
		                    : 40 * GST_MSECOND;
	if (last_dur == 0)
		last_dur = 40 * GST_MSECOND;
	c->period = c->frames[c->n - 1].dts - c->first + last_dur;
	*ret = g_steal_pointer(&c);
	r = 0;
out:
	if (pipeline != NULL)
		gst_element_set_state(pipeline, GST_STATE_NULL);
	if (bus != NULL)
		gst_object_unref(bus);
	if (file != NULL)
		gst_object_unref(file);
	if (sink != NULL)
		gst_object_unref(sink);
	if (pipeline != NULL)
		gst_object_unref(pipeline);
	clip_free(c);
	return r;
}

/* appsrc "need-data", in appsrc's streaming thread: pushes the next access
 * unit when the pipeline clock reaches its time, so the replay runs in real
 * time. Time stamps continue across loops. When the stream was held back (a
 * live media waits for its first PLAY) the schedule is moved to now rather
 * than sending the backlog in a burst. */
static void feed(GstAppSrc *src, guint length, gpointer data)
{
	struct feeder *f = data;
	const struct clip *c = f->clip;
	const struct frame *fr = &c->frames[f->next];
	GstClock *clock = gst_element_get_clock(GST_ELEMENT(src));
	GstClockTime base = gst_element_get_base_time(GST_ELEMENT(src));
	gint64 now, t, due;
	GstBuffer *buf;

	if (clock == NULL)
		clock = gst_system_clock_obtain();
	now = (gint64)(gst_clock_get_time(clock) - base);
	t = (gint64)(fr->dts - c->first) + (gint64)(f->loops * c->period);
	if (!f->anchored) {
		f->offset = now - t;
		f->anchored = true;
	}
	due = t + f->offset;
	if (due < now - (gint64)CAMSIM_FEED_LATE_MAX) {
		f->offset += now - due;
		due = now;
	}
	if (due > now + (gint64)CAMSIM_FEED_GAP_MAX) {
		f->offset -= due - (now + (gint64)CAMSIM_FEED_GAP_MAX);
		due = now + (gint64)CAMSIM_FEED_GAP_MAX;
	}
	if (due > now) {
		GstClockID id = gst_clock_new_single_shot_id(clock, base + (GstClockTime)due);

		gst_clock_id_wait(id, NULL);
		gst_clock_id_unref(id);
	}
	gst_object_unref(clock);

	buf = gst_buffer_copy(fr->buf); /* shares the memory, own time stamps */
	GST_BUFFER_DTS(buf) = (GstClockTime)due;
	if (GST_CLOCK_TIME_IS_VALID(fr->pts)) {
		gint64 pts = (gint64)fr->pts - (gint64)fr->dts + due;

		GST_BUFFER_PTS(buf) = pts > 0 ? (GstClockTime)pts : 0;
	} else {
		GST_BUFFER_PTS(buf) = (GstClockTime)due;
	}
	gst_app_src_push_buffer(src, buf); /* FLUSHING while stopping: nothing to do */

	if (++f->next == c->n) {
		f->next = 0;
		f->loops++;
	}
}

/* ---- probes ---- */

static guint64 marker(GstBuffer *buf)
{
	GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
	gboolean m;

	if (!gst_rtp_buffer_map(buf, GST_MAP_READ, &rtp))
		return 0;
	m = gst_rtp_buffer_get_marker(&rtp);
	gst_rtp_buffer_unmap(&rtp);
	return m ? 1 : 0;
}

static gboolean count_in_list(GstBuffer **buf, guint idx, gpointer data)
{
	*(guint64 *)data += marker(*buf);
	return TRUE;
}

/* On the payloader's source pad: one RTP packet with the marker bit set ends
 * one access unit, i.e. one video frame. */
static GstPadProbeReturn count_frames(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct camera *cam = data;
	guint64 n = 0;

	if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
		n = marker(GST_PAD_PROBE_INFO_BUFFER(info));
	else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
		gst_buffer_list_foreach(GST_PAD_PROBE_INFO_BUFFER_LIST(info), count_in_list, &n);
	if (n)
		atomic_fetch_add(&cam->frames, n);
	return GST_PAD_PROBE_OK;
}

/* Before the valve: after a resume, delta units are dropped until a key frame
 * so that the first frame a client gets again is decodable. */
static GstPadProbeReturn gate_key(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct camera *cam = data;
	GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);

	if (!atomic_load(&cam->want_key))
		return GST_PAD_PROBE_OK;
	if (GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT))
		return GST_PAD_PROBE_DROP;
	atomic_store(&cam->want_key, false);
	return GST_PAD_PROBE_OK;
}

/* ---- medias ---- */

static void pipe_free(struct pipe *p)
{
	if (p == NULL)
		return;
	if (p->src)
		gst_object_unref(p->src);
	if (p->enc)
		gst_object_unref(p->enc);
	if (p->valve)
		gst_object_unref(p->valve);
	if (p->shift)
		gst_object_unref(p->shift);
	if (p->blur)
		gst_object_unref(p->blur);
	if (p->cover)
		gst_object_unref(p->cover);
	g_free(p);
}

/* Weak-ref notify: the media is being finalised, in whatever thread. */
static void pipe_gone(gpointer data, GObject *where)
{
	struct pipe *p = data;
	struct camera *cam = p->cam;

	g_mutex_lock(&cam->lock);
	g_ptr_array_remove_fast(cam->pipes, p);
	g_mutex_unlock(&cam->lock);
	pipe_free(p);
}

static void add_probe(GstElement *e, const char *pad_name, GstPadProbeType type,
                      GstPadProbeCallback cb, struct camera *cam)
{
	GstPad *pad = gst_element_get_static_pad(e, pad_name);

	gst_pad_add_probe(pad, type, cb, cam, NULL);
	gst_object_unref(pad);
}

/* The picture faults in force on one pipeline; the camera's lock is held.
 * Cover: what a sensor behind a hand or a bag sees, dark noise (the snow
 * pattern at CAMSIM_COVER_CONTRAST: mean luma ~18, std-dev ~11; the clock
 * stays, as a camera's burned-in time would). Not the black pattern: its
 * near-empty frames reach clients in bursts every few seconds (the RTSP
 * server holds them), which a recorder takes for an outage. Blur: a Gaussian of sigma CAMSIM_BLUR_SIGMA, a
 * lens far out of focus. Shift: the picture moved right and down by an
 * eighth of its width and height, a camera knocked aside. */
static void pipe_faults(struct camera *cam, struct pipe *p)
{
	gst_util_set_object_arg(G_OBJECT(p->src), "pattern",
	                        cam->black ? "black" : cam->covered ? "snow" : "smpte");
	if (p->cover != NULL)
		g_object_set(p->cover, "contrast", cam->covered ? CAMSIM_COVER_CONTRAST : 1.0, NULL);
	if (p->blur != NULL)
		g_object_set(p->blur, "sigma", cam->blurred ? CAMSIM_BLUR_SIGMA : 0.0, NULL);
	if (p->shift != NULL) {
		gint dx = cam->shifted ? (gint)cam->width / 8 : 0;
		gint dy = cam->shifted ? (gint)cam->height / 8 : 0;

		g_object_set(p->shift, "left", -dx, "right", dx, "top", -dy, "bottom", dy, NULL);
	}
}

/* "media-configure": a new pipeline for the camera exists, not yet prepared.
 * Finds its elements, installs the probes, applies the faults in force. */
static void on_media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer data)
{
	struct camera *cam = data;
	GstElement *bin = gst_rtsp_media_get_element(media);
	GstElement *pay = gst_bin_get_by_name(GST_BIN(bin), "pay0");
	GstElement *clock = gst_bin_get_by_name(GST_BIN(bin), "clock");
	struct pipe *p = g_new0(struct pipe, 1);

	p->cam = cam;
	p->src = gst_bin_get_by_name(GST_BIN(bin), "src");
	p->enc = gst_bin_get_by_name(GST_BIN(bin), "enc");
	p->valve = gst_bin_get_by_name(GST_BIN(bin), "valve");
	p->shift = gst_bin_get_by_name(GST_BIN(bin), "shift");
	p->blur = gst_bin_get_by_name(GST_BIN(bin), "blur");
	p->cover = gst_bin_get_by_name(GST_BIN(bin), "cover");
	if (pay == NULL || p->src == NULL || p->valve == NULL) {
		/* Cannot happen with our own launch lines; the stream still plays. */
		fprintf(stderr, "camsim: %s: pipeline without pay0/src/valve\n", cam->name);
		pipe_free(p);
		goto out;
	}
	if (clock != NULL)
		g_object_set(clock, "time-format", CAMSIM_TIME_FORMAT, "text", cam->name, NULL);
	if (cam->clip != NULL) {
		GstAppSrcCallbacks cbs = { .need_data = feed };
		struct feeder *f = g_new0(struct feeder, 1);

		f->clip = cam->clip;
		g_object_set(p->src, "caps", cam->clip->caps, NULL);
		gst_app_src_set_callbacks(GST_APP_SRC(p->src), &cbs, f, g_free);
	}
	add_probe(pay, "src", GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
	          count_frames, cam);
	add_probe(p->valve, "sink", GST_PAD_PROBE_TYPE_BUFFER, gate_key, cam);
	g_object_set_data(G_OBJECT(media), CAMSIM_MEDIA_KEY, cam);

	g_mutex_lock(&cam->lock);
	g_object_set(p->valve, "drop", cam->stalled, NULL);
	pipe_faults(cam, p);
	g_ptr_array_add(cam->pipes, p);
	g_mutex_unlock(&cam->lock);
	g_object_weak_ref(G_OBJECT(media), pipe_gone, p);
out:
	if (clock != NULL)
		gst_object_unref(clock);
	if (pay != NULL)
		gst_object_unref(pay);
	gst_object_unref(bin);
}

/* The launch line of a camera. Elements the control socket acts on are named:
 * src, enc (test pattern only), valve, and pay0, which the RTSP server wants
 * as the payloader of the first stream. The valve sits before the payloader so
 * that a stalled camera produces no RTP packet at all. */
static gchar *launch_line(const struct options *opt)
{
	const char *pay = opt->codec == CODEC_H264 ? "rtph264pay" : "rtph265pay";
	const char *tail = "valve name=valve drop-mode=forward-sticky-events ! "
	                   "%s name=pay0 pt=96 config-interval=-1";
	GString *s = g_string_new("( ");

	if (opt->file != NULL) {
		g_string_append(s, "appsrc name=src is-live=true format=time ! ");
	} else {
		g_string_append_printf(s, "videotestsrc name=src is-live=true pattern=smpte ! "
		                       "video/x-raw,format=I420,width=%u,height=%u,framerate=%u/1 ! "
		                       "%s"
		                       "clockoverlay name=clock shaded-background=true ! ",
		                       opt->width, opt->height, opt->fps,
		                       /* before the clock: a lens fault does not touch the
		                        * time a camera burns in */
		                       opt->tamper ? "videobox name=shift ! videoconvert ! "
		                                     "gaussianblur name=blur sigma=0 ! videobalance name=cover ! "
		                                     "videoconvert ! "
		                                     "video/x-raw,format=I420 ! " : "");
		/* One slice per frame: zerolatency turns sliced threads on, and
		 * rtph264pay then repeats SPS/PPS before each IDR slice, which
		 * clients take for the start of a new access unit. */
		if (opt->codec == CODEC_H264)
			g_string_append_printf(s, "x264enc name=enc tune=zerolatency "
			                       "speed-preset=ultrafast sliced-threads=false "
			                       "key-int-max=%u bitrate=%u ! ", opt->gop, opt->bitrate);
		else
			g_string_append_printf(s, "x265enc name=enc tune=zerolatency "
			                       "speed-preset=ultrafast key-int-max=%u bitrate=%u "
			                       "log-level=error ! ", opt->gop, opt->bitrate);
	}
	/* tail is a literal above; the pragma keeps -Wformat-nonliteral quiet. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	g_string_append_printf(s, tail, pay);
#pragma GCC diagnostic pop
	g_string_append(s, " )");
	return g_string_free(s, FALSE);
}

/* ---- the start check ---- */

static unsigned config_uses(const struct options *opt)
{
	unsigned uses = opt->codec == CODEC_H264 ? USE_H264 : USE_H265;

	if (opt->file == NULL)
		return uses | USE_PATTERN | (opt->tamper ? USE_TAMPER : 0);
	return uses | USE_FILE | (opt->container == CONTAINER_MP4 ? USE_MP4 : USE_MATROSKA);
}

/* Makes (and drops) every element this configuration may run, then builds its
 * launch line once, so that a missing plugin stops camsim at start, naming the
 * element and the Debian package, instead of failing each client with a 503.
 * Returns 0, or -ENOENT after printing what is missing. */
static int check_elements(const struct options *opt)
{
	unsigned uses = config_uses(opt);
	GstParseContext *ctx;
	GstElement *bin;
	GError *err = NULL;
	gchar *launch;
	int r = 0;

	for (size_t i = 0; i < G_N_ELEMENTS(element_needs); i++) {
		const struct element_need *e = &element_needs[i];
		GstElement *made;

		if ((e->when & uses) != e->when)
			continue;
		made = gst_element_factory_make(e->name, NULL);
		if (made != NULL) {
			gst_object_unref(gst_object_ref_sink(made));
			continue;
		}
		fprintf(stderr, "camsim: the GStreamer element '%s' is missing: install the Debian "
		        "package %s (scripts/bootstrap does)\n", e->name, e->package);
		r = -ENOENT;
	}
	if (r < 0)
		return r;
	/* Everything in the table is there: the launch line may still use an
	 * element the table forgot. */
	launch = launch_line(opt);
	ctx = gst_parse_context_new();
	bin = gst_parse_launch_full(launch, ctx, GST_PARSE_FLAG_FATAL_ERRORS, &err);
	if (bin == NULL || err != NULL) {
		gchar **missing = gst_parse_context_get_missing_elements(ctx);

		fprintf(stderr, "camsim: the camera pipeline does not build: %s\n",
		        err != NULL ? err->message : "unknown error");
		for (size_t i = 0; missing != NULL && missing[i] != NULL; i++)
			fprintf(stderr, "camsim: the GStreamer element '%s' is missing (%s)\n", missing[i],
			        element_package(missing[i]));
		g_strfreev(missing);
		r = -ENOENT;
	}
	if (bin != NULL)
		gst_object_unref(gst_object_ref_sink(bin));
	g_clear_error(&err);
	gst_parse_context_free(ctx);
	g_free(launch);
	return r;
}

/* ---- servers ---- */


/* Digest only (no Basic: the password never crosses the wire in clear). With
 * a user, requests without valid credentials get 401; without one, a default
 * token lets anyone in. A certificate makes every connection TLS. */
static GstRTSPAuth *auth_new(const struct options *opt, GTlsCertificate *cert)
{
	GstRTSPAuth *auth = gst_rtsp_auth_new();
	GstRTSPToken *token =
	    gst_rtsp_token_new(GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, CAMSIM_ROLE, NULL);

	gst_rtsp_auth_set_supported_methods(auth, GST_RTSP_AUTH_DIGEST);
	gst_rtsp_auth_set_realm(auth, CAMSIM_REALM);
	if (opt->user != NULL)
		gst_rtsp_auth_add_digest(auth, opt->user, opt->password, token);
	else
		gst_rtsp_auth_set_default_token(auth, token);
	gst_rtsp_token_unref(token);
	if (cert != NULL)
		gst_rtsp_auth_set_tls_certificate(auth, cert);
	return auth;
}

static gboolean pool_cleanup(GstRTSPSessionPool *pool, gpointer data)
{
	gst_rtsp_session_pool_cleanup(pool);
	return G_SOURCE_CONTINUE;
}

static GstRTSPServer *server_new(struct app *app, unsigned port, GTlsCertificate *cert,
                                 GSource **ret_watch)
{
	GstRTSPServer *server = gst_rtsp_server_new();
	GstRTSPAuth *auth = auth_new(&app->opt, cert);
	GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(server);
	gchar *service = g_strdup_printf("%u", port);

	gst_rtsp_server_set_address(server, CAMSIM_ADDRESS);
	gst_rtsp_server_set_service(server, service);
	gst_rtsp_server_set_mount_points(server, app->mounts);
	gst_rtsp_server_set_auth(server, auth);
	*ret_watch = gst_rtsp_session_pool_create_watch(pool);
	g_source_set_callback(*ret_watch, G_SOURCE_FUNC(pool_cleanup), NULL, NULL);
	g_source_attach(*ret_watch, NULL);
	g_free(service);
	g_object_unref(pool);
	g_object_unref(auth);
	return server;
}

/* Opens the listening socket of server i (again, after "refuse off"). */
static int listen_start(struct app *app, int i, GError **err)
{
	GSource *src = gst_rtsp_server_create_source(app->servers[i], NULL, err);

	if (src == NULL)
		return -EADDRINUSE;
	g_source_attach(src, NULL);
	app->listening[i] = src;
	app->ports[i] = gst_rtsp_server_get_bound_port(app->servers[i]);
	return 0;
}

/* Closes the listening socket: new connections get ECONNREFUSED. Destroying
 * the source drops the server's and the source's references to the socket. */
static void listen_stop(struct app *app, int i)
{
	if (app->listening[i] == NULL)
		return;
	g_source_destroy(app->listening[i]);
	g_source_unref(app->listening[i]);
	app->listening[i] = NULL;
}

static int setup_cameras(struct app *app)
{
	gchar *launch = launch_line(&app->opt);
	GstRTSPAddressPool *udp = gst_rtsp_address_pool_new();

	/* UDP transports bind to the loopback address too, never to 0.0.0.0. */
	gst_rtsp_address_pool_add_range(udp, CAMSIM_ADDRESS, CAMSIM_ADDRESS, CAMSIM_UDP_PORT_MIN,
	                                CAMSIM_UDP_PORT_MAX, 0);
	app->mounts = gst_rtsp_mount_points_new();
	for (unsigned i = 0; i < app->opt.cameras; i++) {
		struct camera *cam = &app->cams[i];
		CamsimFactory *cf = g_object_new(CAMSIM_TYPE_FACTORY, NULL);
		GstRTSPMediaFactory *f = GST_RTSP_MEDIA_FACTORY(cf);

		cam->index = i + 1;
		g_snprintf(cam->name, sizeof(cam->name), "cam%u", cam->index);
		g_snprintf(cam->path, sizeof(cam->path), "/cam%u", cam->index);
		cam->clip = app->clip;
		cam->width = app->opt.width;
		cam->height = app->opt.height;
		g_mutex_init(&cam->lock);
		cam->pipes = g_ptr_array_new();
		atomic_init(&cam->want_key, false);
		atomic_init(&cam->frames, 0);

		cf->cam = cam;
		gst_rtsp_media_factory_set_launch(f, launch);
		gst_rtsp_media_factory_set_media_gtype(f, CAMSIM_TYPE_MEDIA);
		gst_rtsp_media_factory_set_shared(f, TRUE);
		gst_rtsp_media_factory_set_address_pool(f, udp);
		gst_rtsp_media_factory_add_role(f, CAMSIM_ROLE,
		                                GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
		                                GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN,
		                                TRUE, NULL);
		g_signal_connect(f, "media-configure", G_CALLBACK(on_media_configure), cam);
		gst_rtsp_mount_points_add_factory(app->mounts, cam->path, f);
	}
	g_object_unref(udp);
	g_free(launch);
	return 0;
}

static int setup_servers(struct app *app)
{
	GTlsCertificate *cert = app->opt.cert;
	GError *err = NULL;
	int r = -EINVAL;

	app->servers[0] = server_new(app, app->opt.port, NULL, &app->pool_watch[0]);
	if (listen_start(app, 0, &err) < 0) {
		fprintf(stderr, "camsim: --port %u: %s\n", app->opt.port,
		        err ? err->message : "cannot listen");
		goto out;
	}
	if (cert != NULL) {
		app->servers[1] = server_new(app, app->opt.tls_port, cert, &app->pool_watch[1]);
		if (listen_start(app, 1, &err) < 0) {
			fprintf(stderr, "camsim: --tls-port %u: %s\n", app->opt.tls_port,
			        err ? err->message : "cannot listen");
			goto out;
		}
	}
	r = 0;
out:
	g_clear_error(&err);
	return r;
}

/* ---- faults ---- */

struct disconnect {
	struct camera *cam;
	GList *sessions;               /* references, to remove from the pool */
};

/* Does any session of client play the camera? Its matching sessions are
 * collected so that UDP delivery stops too (a UDP session outlives its TCP
 * connection otherwise). */
static GstRTSPFilterResult match_client(GstRTSPServer *server, GstRTSPClient *client,
                                        gpointer data)
{
	struct disconnect *d = data;
	GList *sessions = gst_rtsp_client_session_filter(client, NULL, NULL);
	bool hit = false;

	for (GList *s = sessions; s != NULL; s = s->next) {
		GList *medias = gst_rtsp_session_filter(s->data, NULL, NULL);
		bool mine = false;

		for (GList *m = medias; m != NULL; m = m->next) {
			GstRTSPMedia *media = gst_rtsp_session_media_get_media(m->data);

			if (g_object_get_data(G_OBJECT(media), CAMSIM_MEDIA_KEY) == d->cam)
				mine = true;
		}
		g_list_free_full(medias, g_object_unref);
		if (mine) {
			d->sessions = g_list_prepend(d->sessions, g_object_ref(s->data));
			hit = true;
		}
	}
	g_list_free_full(sessions, g_object_unref);
	return hit ? GST_RTSP_FILTER_REMOVE : GST_RTSP_FILTER_KEEP;
}

/* Closes the TCP connection of every client that has a session on the camera
 * (GST_RTSP_FILTER_REMOVE makes the server call gst_rtsp_client_close) and
 * removes those sessions, which stops their RTP. */
static void cam_disconnect(struct app *app, struct camera *cam)
{
	for (int i = 0; i < 2; i++) {
		struct disconnect d = { .cam = cam };
		GstRTSPSessionPool *pool;
		GList *l;

		if (app->servers[i] == NULL)
			continue;
		l = gst_rtsp_server_client_filter(app->servers[i], match_client, &d);
		g_list_free_full(l, g_object_unref);
		pool = gst_rtsp_server_get_session_pool(app->servers[i]);
		for (GList *s = d.sessions; s != NULL; s = s->next)
			gst_rtsp_session_pool_remove(pool, s->data);
		g_object_unref(pool);
		g_list_free_full(d.sessions, g_object_unref);
	}
}

static void cam_stall(struct camera *cam, bool stall)
{
	GPtrArray *encs = g_ptr_array_new_with_free_func(gst_object_unref);

	g_mutex_lock(&cam->lock);
	if (!stall && cam->stalled)
		atomic_store(&cam->want_key, true); /* before the valve opens */
	cam->stalled = stall;
	for (guint i = 0; i < cam->pipes->len; i++) {
		struct pipe *p = g_ptr_array_index(cam->pipes, i);

		g_object_set(p->valve, "drop", stall, NULL);
		if (!stall && p->enc != NULL)
			g_ptr_array_add(encs, gst_object_ref(p->enc));
	}
	g_mutex_unlock(&cam->lock);
	/* Ask the encoder for a key frame now rather than at the end of the GOP. */
	for (guint i = 0; i < encs->len; i++) {
		GstPad *pad = gst_element_get_static_pad(g_ptr_array_index(encs, i), "src");

		gst_pad_send_event(pad, gst_video_event_new_upstream_force_key_unit(
		                            GST_CLOCK_TIME_NONE, TRUE, 0));
		gst_object_unref(pad);
	}
	g_ptr_array_unref(encs);
}

/* Sets a picture fault (black, or a tamper fault) and applies them all. */
static void cam_fault(struct camera *cam, bool *fault, bool on)
{
	g_mutex_lock(&cam->lock);
	*fault = on;
	for (guint i = 0; i < cam->pipes->len; i++)
		pipe_faults(cam, g_ptr_array_index(cam->pipes, i));
	g_mutex_unlock(&cam->lock);
}

/* "clear": the tamper faults end. */
static void cam_clear(struct camera *cam)
{
	g_mutex_lock(&cam->lock);
	cam->covered = cam->blurred = cam->shifted = false;
	for (guint i = 0; i < cam->pipes->len; i++)
		pipe_faults(cam, g_ptr_array_index(cam->pipes, i));
	g_mutex_unlock(&cam->lock);
}

/* "refuse on" closes the listening sockets; "refuse off" opens them again on
 * the same ports. Established connections are not touched. */
static gchar *set_refuse(struct app *app, bool on)
{
	GError *err = NULL;
	gchar *answer;

	if (on) {
		for (int i = 0; i < 2; i++)
			listen_stop(app, i);
		return g_strdup("ok");
	}
	for (int i = 0; i < 2; i++) {
		if (app->servers[i] == NULL || app->listening[i] != NULL)
			continue;
		if (listen_start(app, i, &err) < 0) {
			answer = g_strdup_printf("error: cannot listen again on port %d: %s",
			                         app->ports[i], err ? err->message : "unknown");
			g_clear_error(&err);
			return answer;
		}
	}
	return g_strdup("ok");
}

/* ---- what runs ---- */

static void add_factory_name(const GValue *item, gpointer data)
{
	GstElement *e = g_value_get_object(item);
	GstElementFactory *f = gst_element_get_factory(e);

	if (f != NULL)
		g_hash_table_add(data, g_strdup(gst_plugin_feature_get_name(f)));
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The "elements" answer: the factory names of every element in the running
 * pipelines of all cameras (gst-rtsp-server's own included), sorted, one
 * space between them. */
static gchar *running_elements(struct app *app)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	gpointer *sorted;
	guint len;
	GString *out;

	for (unsigned c = 0; c < app->opt.cameras; c++) {
		struct camera *cam = &app->cams[c];

		g_mutex_lock(&cam->lock);
		for (guint i = 0; i < cam->pipes->len; i++) {
			struct pipe *p = g_ptr_array_index(cam->pipes, i);
			GstObject *top = gst_object_ref(GST_OBJECT(p->valve)), *up;
			GstIterator *it;

			while ((up = gst_object_get_parent(top)) != NULL) {
				gst_object_unref(top);
				top = up;
			}
			if (GST_IS_BIN(top)) {
				GValue self = G_VALUE_INIT;

				g_value_init(&self, GST_TYPE_ELEMENT);
				g_value_set_object(&self, top);
				add_factory_name(&self, names);
				g_value_unset(&self);
				it = gst_bin_iterate_recurse(GST_BIN(top));
				while (gst_iterator_foreach(it, add_factory_name, names) ==
				       GST_ITERATOR_RESYNC)
					gst_iterator_resync(it);
				gst_iterator_free(it);
			}
			gst_object_unref(top);
		}
		g_mutex_unlock(&cam->lock);
	}
	if (g_hash_table_size(names) == 0) {
		g_hash_table_unref(names);
		return g_strdup("error: no camera is streaming");
	}
	sorted = g_hash_table_get_keys_as_array(names, &len);
	qsort(sorted, len, sizeof(*sorted), compare_names);
	out = g_string_new(NULL);
	for (guint i = 0; i < len; i++)
		g_string_append_printf(out, "%s%s", i ? " " : "", (const char *)sorted[i]);
	g_free(sorted);
	g_hash_table_unref(names);
	return g_string_free(out, FALSE);
}

/* ---- control socket ---- */

static struct camera *find_camera(struct app *app, const char *arg)
{
	guint64 n;

	if (arg == NULL || g_ascii_strncasecmp(arg, "cam", 3) != 0)
		return NULL;
	if (!g_ascii_string_to_unsigned(arg + 3, 10, 1, app->opt.cameras, &n, NULL))
		return NULL;
	return &app->cams[n - 1];
}

static int parse_onoff(const char *arg)
{
	if (arg != NULL && g_ascii_strcasecmp(arg, "on") == 0)
		return 1;
	if (arg != NULL && g_ascii_strcasecmp(arg, "off") == 0)
		return 0;
	return -1;
}

/* "cover|blur|shift|clear CAMn": the tamper faults, which need --tamper. */
static gchar *tamper_command(struct app *app, struct camera *cam, char **w, size_t n)
{
	if (n != 2)
		return g_strdup_printf("error: usage: %s CAMn", w[0]);
	if (cam == NULL)
		return g_strdup_printf("error: no camera '%.16s' (cam1..cam%u)", w[1], app->opt.cameras);
	if (!app->opt.tamper)
		return g_strdup_printf("error: %s needs camsim started with --tamper", w[0]);
	if (g_ascii_strcasecmp(w[0], "cover") == 0)
		cam_fault(cam, &cam->covered, true);
	else if (g_ascii_strcasecmp(w[0], "blur") == 0)
		cam_fault(cam, &cam->blurred, true);
	else if (g_ascii_strcasecmp(w[0], "shift") == 0)
		cam_fault(cam, &cam->shifted, true);
	else
		cam_clear(cam);
	return g_strdup("ok");
}

/* Runs one command line; returns the answer (without LF), to g_free: "ok",
 * a decimal number for "frames", or "error: " and the reason. */
static gchar *run_command(struct app *app, char *line)
{
	gchar **words = g_strsplit_set(line, " \t", 4);
	char *w[4] = { NULL };
	size_t n = 0;
	struct camera *cam = NULL;
	gchar *answer = NULL;
	int on;

	for (size_t i = 0; words[i] != NULL; i++) {
		if (words[i][0] == '\0')
			continue;
		if (n == G_N_ELEMENTS(w)) {
			answer = g_strdup("error: too many words");
			goto out;
		}
		w[n++] = words[i];
	}
	if (n == 0) {
		answer = g_strdup("error: empty command");
		goto out;
	}
	if (n >= 2)
		cam = find_camera(app, w[1]);

	if (g_ascii_strcasecmp(w[0], "onvif") == 0) {
		answer = n >= 2 ? onvif_sim_command(app->onvif, w + 1, n - 1)
		                : g_strdup("error: usage: onvif COMMAND (tools/camsim/README.md)");
	} else if (g_ascii_strcasecmp(w[0], "elements") == 0 && n == 1) {
		answer = running_elements(app);
	} else if (g_ascii_strcasecmp(w[0], "quit") == 0 && n == 1) {
		g_main_loop_quit(app->loop);
		answer = g_strdup("ok");
	} else if (g_ascii_strcasecmp(w[0], "refuse") == 0 && n == 2 && (on = parse_onoff(w[1])) >= 0) {
		answer = set_refuse(app, on);
	} else if (g_ascii_strcasecmp(w[0], "stall") == 0 ||
	           g_ascii_strcasecmp(w[0], "resume") == 0 ||
	           g_ascii_strcasecmp(w[0], "disconnect") == 0 ||
	           g_ascii_strcasecmp(w[0], "frames") == 0 ||
	           g_ascii_strcasecmp(w[0], "black") == 0) {
		bool is_black = g_ascii_strcasecmp(w[0], "black") == 0;

		if (n != (is_black ? 3u : 2u)) {
			answer = g_strdup_printf("error: usage: %s CAMn%s", w[0], is_black ? " on|off" : "");
		} else if (cam == NULL) {
			answer = g_strdup_printf("error: no camera '%.16s' (cam1..cam%u)", w[1],
			                         app->opt.cameras);
		} else if (is_black) {
			if ((on = parse_onoff(w[2])) < 0)
				answer = g_strdup("error: usage: black CAMn on|off");
			else if (app->clip != NULL)
				answer = g_strdup("error: black needs the test pattern, not --file");
			else {
				cam_fault(cam, &cam->black, on);
				answer = g_strdup("ok");
			}
		} else if (g_ascii_strcasecmp(w[0], "frames") == 0) {
			answer = g_strdup_printf("%" G_GUINT64_FORMAT, (guint64)atomic_load(&cam->frames));
		} else if (g_ascii_strcasecmp(w[0], "disconnect") == 0) {
			cam_disconnect(app, cam);
			answer = g_strdup("ok");
		} else {
			cam_stall(cam, g_ascii_strcasecmp(w[0], "stall") == 0);
			answer = g_strdup("ok");
		}
	} else if (g_ascii_strcasecmp(w[0], "cover") == 0 ||
	           g_ascii_strcasecmp(w[0], "blur") == 0 ||
	           g_ascii_strcasecmp(w[0], "shift") == 0 ||
	           g_ascii_strcasecmp(w[0], "clear") == 0) {
		answer = tamper_command(app, cam, w, n);
	} else {
		answer = g_strdup_printf("error: unknown command '%.16s' (stall, resume, disconnect, "
		                         "refuse, black, cover, blur, shift, clear, frames, elements, "
		                         "onvif, quit)", w[0]);
	}
out:
	g_strfreev(words);
	return answer;
}

static void conn_close(struct control_conn *c)
{
	struct app *app = c->app;

	app->conns = g_list_remove(app->conns, c);
	app->nconns--;
	g_source_destroy(c->src);
	g_source_unref(c->src);
	g_socket_close(c->sock, NULL);
	g_object_unref(c->sock);
	g_free(c);
}

static bool conn_send(struct control_conn *c, const char *answer)
{
	gchar *msg = g_strconcat(answer, "\n", NULL);
	gsize len = strlen(msg), off = 0;
	bool ok = true;

	while (off < len) {
		gssize n = g_socket_send(c->sock, msg + off, len - off, NULL, NULL);

		if (n <= 0) {
			ok = false;
			break;
		}
		off += (gsize)n;
	}
	g_free(msg);
	return ok;
}

static gboolean conn_ready(GSocket *sock, GIOCondition cond, gpointer data)
{
	struct control_conn *c = data;
	gssize n;
	char *nl;

	n = g_socket_receive(sock, c->buf + c->len, sizeof(c->buf) - 1 - c->len, NULL, NULL);
	if (n <= 0) {
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->buf) + 1;
		gchar *answer;
		bool ok;

		*nl = '\0';
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		answer = run_command(c->app, c->buf);
		ok = conn_send(c, answer);
		g_free(answer);
		if (!ok) {
			conn_close(c);
			return G_SOURCE_REMOVE;
		}
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->len > CAMSIM_CTL_LINE_MAX) {
		conn_send(c, "error: line too long");
		conn_close(c);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean ctl_accept(GSocket *listener, GIOCondition cond, gpointer data)
{
	struct app *app = data;
	GSocket *sock = g_socket_accept(listener, NULL, NULL);
	struct control_conn *c;

	if (sock == NULL)
		return G_SOURCE_CONTINUE;
	g_socket_set_blocking(sock, TRUE); /* answers are short; reads wait for G_IO_IN */
	if (app->nconns >= CAMSIM_CTL_CONNS_MAX) {
		static const char busy[] = "error: too many control connections\n";

		g_socket_send(sock, busy, sizeof(busy) - 1, NULL, NULL);
		g_socket_close(sock, NULL);
		g_object_unref(sock);
		return G_SOURCE_CONTINUE;
	}
	c = g_new0(struct control_conn, 1);
	c->app = app;
	c->sock = sock;
	c->src = g_socket_create_source(sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(c->src, G_SOURCE_FUNC(conn_ready), c, NULL);
	g_source_attach(c->src, NULL);
	app->conns = g_list_prepend(app->conns, c);
	app->nconns++;
	return G_SOURCE_CONTINUE;
}

/* Binds the control socket, mode 0600. A stale socket file is replaced;
 * anything else at the path is refused. */
static int control_open(struct app *app)
{
	const char *path = app->opt.control;
	GSocketAddress *addr = NULL;
	GError *err = NULL;
	struct stat st;
	mode_t old;
	int r = -EINVAL;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "camsim: --control: %s exists and is not a socket\n", path);
			return -EEXIST;
		}
		unlink(path);
	}
	app->ctl = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	                        G_SOCKET_PROTOCOL_DEFAULT, &err);
	if (app->ctl == NULL)
		goto fail;
	addr = g_unix_socket_address_new(path);
	old = umask(0077);
	if (!g_socket_bind(app->ctl, addr, FALSE, &err)) {
		umask(old);
		goto fail;
	}
	umask(old);
	app->ctl_bound = true;
	g_socket_set_listen_backlog(app->ctl, CAMSIM_CTL_CONNS_MAX);
	if (!g_socket_listen(app->ctl, &err))
		goto fail;
	g_socket_set_blocking(app->ctl, FALSE);
	app->ctl_src = g_socket_create_source(app->ctl, G_IO_IN, NULL);
	g_source_set_callback(app->ctl_src, G_SOURCE_FUNC(ctl_accept), app, NULL);
	g_source_attach(app->ctl_src, NULL);
	r = 0;
	goto out;
fail:
	fprintf(stderr, "camsim: --control: %s: %s\n", path, err ? err->message : "failed");
	g_clear_error(&err);
out:
	if (addr != NULL)
		g_object_unref(addr);
	return r;
}

static void control_close(struct app *app)
{
	while (app->conns != NULL)
		conn_close(app->conns->data);
	if (app->ctl_src != NULL) {
		g_source_destroy(app->ctl_src);
		g_source_unref(app->ctl_src);
	}
	if (app->ctl != NULL) {
		g_socket_close(app->ctl, NULL);
		g_object_unref(app->ctl);
	}
	if (app->ctl_bound)
		unlink(app->opt.control);
}

/* ---- process ---- */

static int write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;
	ssize_t w;

	n = g_snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return -EOVERFLOW;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		fprintf(stderr, "camsim: --pid-file: %s: %s\n", path, g_strerror(errno));
		return -errno;
	}
	do
		w = write(fd, buf, (size_t)n);
	while (w < 0 && errno == EINTR);
	if (w != n || close(fd) < 0) {
		fprintf(stderr, "camsim: --pid-file: %s: write failed\n", path);
		return -EIO;
	}
	return 0;
}

static gboolean on_signal(gpointer data)
{
	struct app *app = data;

	g_main_loop_quit(app->loop);
	return G_SOURCE_CONTINUE;
}

static GstRTSPFilterResult close_all(GstRTSPServer *server, GstRTSPClient *client, gpointer data)
{
	return GST_RTSP_FILTER_REMOVE;
}

/* The one line scripts wait for; always the same shape, even for one camera
 * ("/cam1..cam1"), so that a single pattern reads the ports. */
static void print_ready(const struct app *app)
{
	printf("camsim: listening rtsp://%s:%d/cam1..cam%u", CAMSIM_ADDRESS, app->ports[0],
	       app->opt.cameras);
	if (app->servers[1] != NULL)
		printf(" rtsps://%s:%d/cam1..cam%u", CAMSIM_ADDRESS, app->ports[1], app->opt.cameras);
	if (app->onvif != NULL)
		printf(" onvif http://%s:%d/onvif/event_service", CAMSIM_ADDRESS,
		       onvif_sim_port(app->onvif));
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct app app;
	struct sigaction ign = { .sa_handler = SIG_IGN };
	int r, status = EXIT_RUN;

	/* The burned-in clock says UTC with a Z, like every time custody shows. */
	if (setenv("TZ", "UTC", 1) < 0)
		return EXIT_RUN;
	tzset();
	sigaction(SIGPIPE, &ign, NULL);

	r = parse_args(argc, argv, &app.opt);
	if (r == 1)
		return 0;
	if (r < 0) {
		fprintf(stderr, "camsim: custody-camsim --help shows the usage\n");
		return EXIT_USAGE;
	}
	gst_init(NULL, NULL);
	if (check_elements(&app.opt) < 0) {
		status = EXIT_MISSING;
		goto out;
	}

	if (app.opt.file != NULL && clip_load(&app.opt, &app.clip) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	app.loop = g_main_loop_new(NULL, FALSE);
	if (setup_cameras(&app) < 0 || setup_servers(&app) < 0)
		goto out;
	if (app.opt.onvif) {
		GError *err = NULL;

		/* the camera's one account: the same user and password as RTSP */
		app.onvif = onvif_sim_new(app.opt.onvif_port, app.opt.user, app.opt.password, &err);
		if (app.onvif == NULL) {
			fprintf(stderr, "camsim: --onvif-port: %s\n", err ? err->message : "failed");
			g_clear_error(&err);
			goto out;
		}
	}
	if (app.opt.password != NULL) {
		/* GstRTSPAuth keeps its own copy; ours goes now. */
		explicit_bzero(app.opt.password, strlen(app.opt.password));
		g_clear_pointer(&app.opt.password, g_free);
	}
	if (app.opt.control != NULL && control_open(&app) < 0)
		goto out;
	if (app.opt.pid_file != NULL) {
		if (write_pid_file(app.opt.pid_file) < 0)
			goto out;
		app.pid_written = true;
	}
	g_unix_signal_add(SIGTERM, on_signal, &app);
	g_unix_signal_add(SIGINT, on_signal, &app);
	print_ready(&app);

	g_main_loop_run(app.loop);

	/* Stop: no new connection, every client closed, then a moment for the
	 * closes to reach the wire before the process exits. */
	for (int i = 0; i < 2; i++) {
		listen_stop(&app, i);
		if (app.servers[i] != NULL) {
			GList *l = gst_rtsp_server_client_filter(app.servers[i], close_all, NULL);

			g_list_free_full(l, g_object_unref);
		}
	}
	{
		gint64 until = g_get_monotonic_time() + CAMSIM_SHUTDOWN_USEC;

		while (g_get_monotonic_time() < until)
			if (!g_main_context_iteration(NULL, FALSE))
				g_usleep(10 * 1000);
	}
	status = 0;
out:
	if (app.opt.password != NULL) {
		explicit_bzero(app.opt.password, strlen(app.opt.password));
		g_free(app.opt.password);
	}
	control_close(&app);
	onvif_sim_free(app.onvif);
	if (app.pid_written)
		unlink(app.opt.pid_file);
	for (int i = 0; i < 2; i++) {
		listen_stop(&app, i);
		if (app.pool_watch[i] != NULL) {
			g_source_destroy(app.pool_watch[i]);
			g_source_unref(app.pool_watch[i]);
		}
		if (app.servers[i] != NULL)
			g_object_unref(app.servers[i]);
	}
	if (app.mounts != NULL)
		g_object_unref(app.mounts);
	if (app.opt.cert != NULL)
		g_object_unref(app.opt.cert);
	if (app.loop != NULL)
		g_main_loop_unref(app.loop);
	/* Medias may still be stopping in their own threads: the clip and the
	 * cameras stay allocated until the process ends. */
	return status;
}
