/* Unit tests of evidence packages: export and verification round trips,
 * wrong password vs damage, one changed byte in every region of the file,
 * removed and reordered content, edited manifests, a package re-signed with
 * another key, a replaced recording seal signature, a tampered source store,
 * and the test-vector packages in tests/data/package-vector/.
 *
 * `test-package --write-vector DIR` writes those vectors instead (see
 * scripts/make-test-vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/error.h"
#include "custody/package.h"
#include "custody/store.h"
#include "custody/time.h"
#include "custody/x509.h"
#include "package/package_int.h"
#include "store/export.h"
#include "store/format.h"
#include "store/store_int.h"
#include "custody/file.h"
#include "custody/parse.h"

#define PW "unit-test-password"
#define PKG_PW "package-password-1"
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define FRAME_US 40000
#define SEC INT64_C(1000000)

static char tmproot[] = "/tmp/custody-pkg-XXXXXX";
static int nfile;

/* The lowest Argon2id cost custody accepts, so the tests stay quick. */
static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

static uint8_t payload[256 * 1024];

/* the shared fixture: a strong store with two cameras and two packages */
static char store_dir[PATH_MAX], pkg_enc[PATH_MAX], pkg_plain[PATH_MAX];
static struct cu_audit_head audit_head;
static uint64_t audit_index;
/* another key with a self-made CA, made before the packages (valid when they were signed) */
static uint8_t fake_priv[32];
static char *fake_ca, *fake_cert;
static size_t fake_ca_len, fake_cert_len;

static void
tmp_path(char *buf, size_t len, const char *what)
{
	assert_int_equal(cu_path(buf, len, "%s/%s-%d", tmproot, what, ++nfile), 0);
}

static void
write_frames(cu_writer *w, int64_t t0, int first, int n, size_t key_len, size_t len)
{
	for (int i = first; i < first + n; i++) {
		bool key = i % 25 == 0;
		cu_frame f = {
			.ts_us = t0 + (int64_t)i * FRAME_US, .dur_us = FRAME_US, .codec = CU_CODEC_H264,
			.track = CU_TRACK_VIDEO, .key = key, .data = payload,
			.len = key ? key_len : len + (size_t)(i % 9) * 100,
		};
		payload[4] = key ? 0x65 : 0x41;
		payload[5] = (uint8_t)i;
		assert_int_equal(cu_writer_append(w, &f), 0);
	}
}

static void
make_store(char *dir, size_t len, int enc)
{
	tmp_path(dir, len, "store");
	struct cu_store_create_opts o = {.encryption = enc, .segment_us = 2 * SEC, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
}

static cu_store *
open_store(const char *dir)
{
	cu_store *s;
	assert_int_equal(cu_store_open(dir, PW, strlen(PW), &s), 0);
	return s;
}

/* cam1: 0-4 s, a signed gap 4-6 s, 6-10 s; cam2: 0-4 s of small frames. */
static void
record(const char *dir)
{
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam1", &w), 0);
	write_frames(w, T0, 0, 100, 200000, 20000);
	assert_int_equal(cu_writer_gap(w, T0 + 4 * SEC, T0 + 6 * SEC, "camera offline"), 0);
	write_frames(w, T0, 150, 100, 200000, 20000);
	assert_int_equal(cu_writer_close(w), 0);
	assert_int_equal(cu_writer_open(s, "cam2", &w), 0);
	write_frames(w, T0, 0, 100, 20000, 1500);
	assert_int_equal(cu_writer_close(w), 0);
	cu_store_close(s);
}

static struct cu_pkg_range ranges[2] = {
	{"cam1", T0, T0 + 10 * SEC},
	{"cam2", T0 + SEC, T0 + 3 * SEC},
};

static struct cu_pkg_export_opts
base_opts(bool encrypt)
{
	return (struct cu_pkg_export_opts){
		.ranges = ranges, .nranges = 2, .case_ref = "2026-0042", .comments =
		"Break-in at the back door.\nRequested by DC Smith.", .exporter = "alice",
		.profile = "court", .encrypt = encrypt, .password = PKG_PW,
		.password_len = strlen(PKG_PW), .kdf = quick_kdf, .prevent_reexport = encrypt,
		.audit_index = -1,
	};
}

static int
do_export(const char *dir, const char *path, const struct cu_pkg_export_opts *o,
          struct cu_pkg_export_result *res)
{
	cu_store *s = open_store(dir);
	int r = cu_pkg_export(s, path, o, res);
	cu_store_close(s);
	return r;
}

static struct cu_pkg_report *
verify_pkg(const char *path, const char *pw)
{
	struct cu_pkg_verify_opts o = {.password = pw, .password_len = pw ? strlen(pw) : 0};
	struct cu_pkg_report *rep = NULL;
	int r = cu_pkg_verify(path, &o, &rep);
	if (r != 0)
		fail_msg("cu_pkg_verify: %d %s", r, cu_error_detail());
	return rep;
}

static const struct cu_pkg_camera_report *
pcam(const struct cu_pkg_report *rep, const char *name)
{
	for (size_t i = 0; i < rep->ncameras; i++)
		if (strcmp(rep->cameras[i].name, name) == 0)
			return &rep->cameras[i];
	fail_msg("camera %s not in the report", name);
	return NULL;
}

static void
read_file(const char *path, uint8_t **data, size_t *len)
{
	assert_int_equal(cu_file_read(path, 256u * 1024 * 1024, data, len), 0);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(cu_write_all(fd, data, len, path), 0);
	close(fd);
}

/* A copy of src with one byte at off XORed with x, at a new path. */
static void
damaged_copy(const char *src, uint64_t off, uint8_t x, char *out, size_t outlen)
{
	uint8_t *d;
	size_t n;
	read_file(src, &d, &n);
	assert_true(off < n);
	d[off] ^= x;
	tmp_path(out, outlen, "damaged");
	write_file(out, d, n);
	free(d);
}

/* ---- the tar inside an unencrypted package ---- */

struct ent {
	char name[CU_TAR_NAME_MAX + 1];
	uint64_t off;                        /* of the content, in the file */
	uint8_t *data;
	size_t len;
};

#define ENTS_MAX 64

/* Splits an unencrypted package into its entries (copies). */
static size_t
unpack(const uint8_t *d, size_t n, struct ent *ents, int64_t *mtime)
{
	size_t k = 0;
	uint64_t off = CU_PKG_HEADER_LEN;
	while (off + CU_TAR_BLOCK <= n) {
		static const uint8_t zero[CU_TAR_BLOCK];
		if (memcmp(d + off, zero, CU_TAR_BLOCK) == 0)
			break;
		uint64_t size;
		assert_true(k < ENTS_MAX);
		assert_int_equal(cu_tar_parse(d + off, ents[k].name, &size, mtime), 0);
		ents[k].off = off + CU_TAR_BLOCK;
		ents[k].len = (size_t)size;
		ents[k].data = malloc(size ? size : 1);
		memcpy(ents[k].data, d + ents[k].off, size);
		off += CU_TAR_BLOCK + cu_tar_padded(size);
		k++;
	}
	return k;
}

static void
free_ents(struct ent *ents, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ents[i].data);
}

static struct ent *
find(struct ent *ents, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ents[i].name, name) == 0)
			return &ents[i];
	fail_msg("no %s in the package", name);
	return NULL;
}

/* Writes an unencrypted package of these entries (skipping NULL data). */
static void
repack(const char *path, struct ent *ents, size_t n, int64_t mtime, uint16_t flags)
{
	uint64_t L = 2 * CU_TAR_BLOCK;
	for (size_t i = 0; i < n; i++)
		if (ents[i].data != NULL)
			L += CU_TAR_BLOCK + cu_tar_padded(ents[i].len);
	struct cu_pkg_header h = {.version = CU_PKG_VERSION, .flags = flags, .chunk = CU_PKG_CHUNK,
	                          .plain_len = L};
	uint8_t *out = calloc(1, CU_PKG_HEADER_LEN + L);
	assert_non_null(out);
	assert_int_equal(cu_pkg_header_encode(&h, out), 0);
	uint64_t off = CU_PKG_HEADER_LEN;
	for (size_t i = 0; i < n; i++) {
		if (ents[i].data == NULL)
			continue;
		assert_int_equal(cu_tar_header(ents[i].name, ents[i].len, mtime, out + off), 0);
		memcpy(out + off + CU_TAR_BLOCK, ents[i].data, ents[i].len);
		off += CU_TAR_BLOCK + cu_tar_padded(ents[i].len);
	}
	write_file(path, out, CU_PKG_HEADER_LEN + L);
	free(out);
}

static void
set_data(struct ent *e, const void *data, size_t len)
{
	free(e->data);
	e->data = malloc(len ? len : 1);
	memcpy(e->data, data, len);
	e->len = len;
}

/* Replaces manifest.json with m (canonical) and signs it with priv, or with
 * the store's key when priv is NULL. */
static void
resign(struct ent *ents, size_t n, json_t *m, const char *dir, const uint8_t *priv)
{
	char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(text);
	uint8_t sig[CU_ED25519_SIG_LEN];
	if (priv == NULL) {
		cu_store *s = open_store(dir);
		assert_int_equal(cu_export_sign(s, text, strlen(text), sig), 0);
		cu_store_close(s);
	} else {
		uint8_t *msg;
		size_t len;
		assert_int_equal(cu_export_message(text, strlen(text), &msg, &len), 0);
		assert_int_equal(cu_ed25519_sign(priv, msg, len, sig), 0);
		free(msg);
	}
	set_data(find(ents, n, "manifest.json"), text, strlen(text));
	set_data(find(ents, n, "manifest.sig"), sig, sizeof(sig));
	free(text);
}

static json_t *
load_manifest(struct ent *ents, size_t n)
{
	struct ent *e = find(ents, n, "manifest.json");
	json_t *m = json_loadb((const char *)e->data, e->len, 0, NULL);
	assert_non_null(m);
	return m;
}

/* Sets the manifest's chain values and bytes of a segment copy to what its
 * content gives (computed here from the format doc, not by the verifier):
 * the chain over the canonical header and every entry, H(last seal body),
 * the first entry number. */
static void
rehash_segment(json_t *m, const struct ent *e)
{
	uint8_t chain[CU_SHA256_LEN], last_seal[CU_SHA256_LEN] = {0};
	char hex[65], shex[65];
	assert_true(e->len >= CU_SEG_HEADER_LEN);
	assert_int_equal(cu_chain_init(e->data, chain), 0);
	uint64_t off = CU_SEG_HEADER_LEN;
	while (off + CU_ENTRY_HEADER_LEN <= e->len) {
		struct cu_entry_header h;
		if (cu_entry_header_decode(e->data + off, CU_ENTRY_HEADER_LEN, &h) < 0 ||
		    h.stored_len > e->len - off - CU_ENTRY_HEADER_LEN)
			break;
		size_t blen = CU_SHA256_LEN + CU_ENTRY_CANON_LEN + h.stored_len;
		uint8_t *buf = malloc(blen);
		assert_non_null(buf);
		memcpy(buf, chain, CU_SHA256_LEN);
		memcpy(buf + CU_SHA256_LEN, e->data + off, CU_ENTRY_CANON_LEN);
		memcpy(buf + CU_SHA256_LEN + CU_ENTRY_CANON_LEN, e->data + off + CU_ENTRY_HEADER_LEN,
		       h.stored_len);
		assert_int_equal(cu_sha256(buf, blen, chain), 0);
		free(buf);
		if (h.type == CU_ENTRY_SEAL)
			assert_int_equal(cu_sha256(e->data + off + CU_ENTRY_HEADER_LEN, h.stored_len,
			                           last_seal), 0);
		off += CU_ENTRY_HEADER_LEN + h.stored_len;
	}
	cu_hex(chain, sizeof(chain), hex);
	cu_hex(last_seal, sizeof(last_seal), shex);
	json_t *cams = json_object_get(m, "cameras");
	for (size_t i = 0; i < json_array_size(cams); i++) {
		json_t *segs = json_object_get(json_array_get(cams, i), "segments");
		for (size_t k = 0; k < json_array_size(segs); k++) {
			json_t *g = json_array_get(segs, k);
			if (strcmp(json_string_value(json_object_get(g, "file")), e->name) == 0) {
				json_object_set_new(g, "chain", json_string(hex));
				json_object_set_new(g, "last_seal", json_string(shex));
				json_object_set_new(g, "first_entry",
				                    json_integer((json_int_t)cu_get_u64(e->data + 96)));
				json_object_set_new(g, "bytes", json_integer((json_int_t)e->len));
				return;
			}
		}
	}
	fail_msg("%s not in the manifest", e->name);
}

/* The segments of a camera in an unpacked package, in order. */
static size_t
segments_of(struct ent *ents, size_t n, const char *camera, struct ent **out)
{
	char prefix[80];
	size_t k = 0;
	snprintf(prefix, sizeof(prefix), "segments/%s/", camera);
	for (size_t i = 0; i < n; i++)
		if (strncmp(ents[i].name, prefix, strlen(prefix)) == 0)
			out[k++] = &ents[i];
	return k;
}

/* Entries of a segment copy: offsets of entry headers of a type. */
static size_t
entries_of(const struct ent *seg, int type, uint64_t *offs, size_t max)
{
	size_t k = 0;
	uint64_t off = CU_SEG_HEADER_LEN;
	while (off + CU_ENTRY_HEADER_LEN <= seg->len) {
		struct cu_entry_header h;
		assert_int_equal(cu_entry_header_decode(seg->data + off, CU_ENTRY_HEADER_LEN, &h), 0);
		if (h.type == type && k < max)
			offs[k++] = off;
		off += CU_ENTRY_HEADER_LEN + h.stored_len;
	}
	return k;
}

/* ---- round trips ---- */

struct frame_count {
	uint64_t n[2];
	int64_t last[2];
	bool ordered;
};

static int
count_frame(void *ctx, const char *camera, const cu_frame *f)
{
	struct frame_count *fc = ctx;
	int i = strcmp(camera, "cam1") == 0 ? 0 : 1;
	if (f->ts_us < fc->last[i])
		fc->ordered = false;
	fc->last[i] = f->ts_us;
	fc->n[i]++;
	return 0;
}

static void
test_roundtrip_encrypted(void **state)
{
	(void)state;
	bool enc, nore;
	assert_int_equal(cu_pkg_probe(pkg_enc, &enc, &nore), 0);
	assert_true(enc);
	assert_true(nore);
	struct frame_count fc = {.ordered = true};
	struct cu_pkg_verify_opts o = {.password = PKG_PW, .password_len = strlen(PKG_PW),
	                               .on_frame = count_frame, .frame_ctx = &fc};
	struct cu_pkg_report *rep;
	assert_int_equal(cu_pkg_verify(pkg_enc, &o, &rep), 0);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	assert_string_equal(rep->reason, "");
	assert_true(rep->encrypted);
	assert_true(rep->prevent_reexport);
	assert_true(rep->export_signature_ok);
	assert_true(rep->chain_ok);
	assert_string_equal(rep->case_ref, "2026-0042");
	assert_string_equal(rep->comments, "Break-in at the back door.\nRequested by DC Smith.");
	assert_string_equal(rep->exporter, "alice");
	assert_string_equal(rep->profile, "court");
	assert_int_equal(rep->audit_index, -1);
	assert_int_equal(rep->ncameras, 2);
	const struct cu_pkg_camera_report *c1 = pcam(rep, "cam1"), *c2 = pcam(rep, "cam2");
	assert_true(c1->checked);
	assert_false(c1->tampered);
	assert_int_equal(c1->frames, 200);
	assert_int_equal(c1->from_us, T0);
	assert_int_equal(c1->to_us, T0 + 10 * SEC);
	assert_int_equal(c1->ngaps, 1);
	assert_int_equal(c1->gaps[0].kind, 3);
	assert_string_equal(c1->gaps[0].reason, "camera offline");
	/* cam2 [1 s, 3 s]: its 2-s segments overlapping it */
	assert_false(c2->tampered);
	assert_true(c2->segments >= 2);
	assert_true(c2->frames >= 50 && c2->frames <= 100);
	assert_int_equal(fc.n[0], 200);
	assert_int_equal(fc.n[1], c2->frames);
	assert_true(fc.ordered);
	cu_pkg_report_free(rep);
	/* the same with two threads and no player */
	o = (struct cu_pkg_verify_opts){.password = PKG_PW, .password_len = strlen(PKG_PW),
	                                .threads = 2};
	assert_int_equal(cu_pkg_verify(pkg_enc, &o, &rep), 0);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	cu_pkg_report_free(rep);
}

static void
test_roundtrip_plain(void **state)
{
	(void)state;
	bool enc = true, nore = true;
	assert_int_equal(cu_pkg_probe(pkg_plain, &enc, &nore), 0);
	assert_false(enc);
	assert_false(nore);
	struct cu_pkg_report *rep = verify_pkg(pkg_plain, NULL);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	assert_false(rep->encrypted);
	assert_int_equal(rep->audit_index, (int64_t)audit_index);
	assert_int_equal(rep->audit_head_size, audit_head.size);
	assert_true(rep->audit_head_ok);
	assert_int_equal(pcam(rep, "cam1")->frames, 200);
	cu_pkg_report_free(rep);
	/* a password given for an unencrypted package is not needed */
	rep = verify_pkg(pkg_plain, "whatever");
	assert_int_equal(rep->status, CU_PKG_INTACT);
	cu_pkg_report_free(rep);
	/* the CA pin: the store's CA passes, another is a mismatch */
	cu_store *s = open_store(store_dir);
	uint8_t fp[CU_SHA256_LEN];
	memcpy(fp, s->ca.fingerprint, sizeof(fp));
	cu_store_close(s);
	struct cu_pkg_verify_opts o = {.ca_fingerprint = fp};
	assert_int_equal(cu_pkg_verify(pkg_plain, &o, &rep), 0);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	cu_pkg_report_free(rep);
	fp[0] ^= 1;
	assert_int_equal(cu_pkg_verify(pkg_plain, &o, &rep), 0);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->ca_mismatch);
	cu_pkg_report_free(rep);
}

/* ---- the container ---- */

static void
test_wrong_password_vs_damage(void **state)
{
	(void)state;
	struct cu_pkg_report *rep = verify_pkg(pkg_enc, "not-the-password");
	assert_int_equal(rep->status, CU_PKG_WRONG_PASSWORD);
	cu_pkg_report_free(rep);
	struct cu_pkg_verify_opts none = {0};
	assert_int_equal(cu_pkg_verify(pkg_enc, &none, &rep), CU_ERR_PASSWORD);
	/* a damaged header is not a wrong password: every header byte */
	for (uint64_t off = 0; off < CU_PKG_HEADER_LEN; off += 7) {
		char path[PATH_MAX];
		damaged_copy(pkg_enc, off, 0x10, path, sizeof(path));
		rep = verify_pkg(path, PKG_PW);
		assert_int_equal(rep->status, CU_PKG_DAMAGED);
		if (off >= 8)
			assert_int_equal(rep->damaged_offset, 0);
		cu_pkg_report_free(rep);
		bool enc;
		assert_int_equal(cu_pkg_probe(path, &enc, NULL), CU_ERR_FORMAT);
		unlink(path);
	}
	/* a re-hashed header with another salt looks like a wrong password; with
	 * another flag, every chunk fails */
	uint8_t *d;
	size_t n;
	read_file(pkg_enc, &d, &n);
	struct cu_pkg_header h;
	assert_int_equal(cu_pkg_header_decode(d, n, &h), 0);
	h.flags &= (uint16_t)~CU_PKG_FLAG_NO_REEXPORT;
	assert_int_equal(cu_pkg_header_encode(&h, d), 0);
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "flag");
	write_file(path, d, n);
	rep = verify_pkg(path, PKG_PW);
	assert_int_equal(rep->status, CU_PKG_DAMAGED);
	assert_int_equal(rep->damaged_offset, CU_PKG_HEADER_LEN);
	cu_pkg_report_free(rep);
	unlink(path);
	free(d);
	/* not a package at all */
	tmp_path(path, sizeof(path), "text");
	write_file(path, "hello, world\n", 13);
	rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_DAMAGED);
	cu_pkg_report_free(rep);
	assert_int_equal(cu_pkg_probe(path, NULL, NULL), CU_ERR_FORMAT);
}

static void
test_each_chunk(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_enc, &d, &n);
	struct cu_pkg_header h;
	assert_int_equal(cu_pkg_header_decode(d, n, &h), 0);
	free(d);
	uint64_t chunks = cu_pkg_chunks(h.plain_len);
	assert_true(chunks >= 4);
	for (uint64_t i = 0; i < chunks; i++) {
		uint64_t start = cu_pkg_chunk_offset(&h, i);
		uint64_t end = i + 1 < chunks ? cu_pkg_chunk_offset(&h, i + 1) : n;
		/* a byte in the middle of the chunk, and one of its tag */
		uint64_t offs[2] = {start + (end - start) / 2, end - 1};
		for (int k = 0; k < 2; k++) {
			char path[PATH_MAX];
			damaged_copy(pkg_enc, offs[k], 0x01, path, sizeof(path));
			struct cu_pkg_report *rep = verify_pkg(path, PKG_PW);
			assert_int_equal(rep->status, CU_PKG_DAMAGED);
			assert_int_equal(rep->damaged_offset, (int64_t)start);
			cu_pkg_report_free(rep);
			unlink(path);
		}
	}
}

static void
test_truncated(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_enc, &d, &n);
	struct cu_pkg_header h;
	assert_int_equal(cu_pkg_header_decode(d, n, &h), 0);
	uint64_t cuts[] = {CU_PKG_HEADER_LEN, cu_pkg_chunk_offset(&h, 1),
	                   cu_pkg_chunk_offset(&h, 2), n - 1, n - 16};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char path[PATH_MAX];
		tmp_path(path, sizeof(path), "cut");
		write_file(path, d, cuts[i]);
		struct cu_pkg_report *rep = verify_pkg(path, PKG_PW);
		assert_int_equal(rep->status, CU_PKG_DAMAGED);
		assert_int_equal(rep->damaged_offset, (int64_t)cuts[i]);
		assert_non_null(strstr(rep->reason, "truncated"));
		cu_pkg_report_free(rep);
		unlink(path);
	}
	/* a chunk's worth cut off, the header re-made to match: the new last
	 * chunk was not sealed as the last (and the header hash changed) */
	struct cu_pkg_header h2 = h;
	h2.plain_len = 2 * (uint64_t)CU_PKG_CHUNK;
	uint8_t hb[CU_PKG_HEADER_LEN];
	assert_int_equal(cu_pkg_header_encode(&h2, hb), 0);
	memcpy(d, hb, sizeof(hb));
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "cut");
	write_file(path, d, cu_pkg_file_size(&h2));
	struct cu_pkg_report *rep = verify_pkg(path, PKG_PW);
	assert_int_equal(rep->status, CU_PKG_DAMAGED);
	cu_pkg_report_free(rep);
	free(d);
	/* appended bytes */
	read_file(pkg_enc, &d, &n);
	uint8_t *e = malloc(n + 10);
	memcpy(e, d, n);
	memset(e + n, 0, 10);
	tmp_path(path, sizeof(path), "long");
	write_file(path, e, n + 10);
	rep = verify_pkg(path, PKG_PW);
	assert_int_equal(rep->status, CU_PKG_DAMAGED);
	cu_pkg_report_free(rep);
	free(e);
	free(d);
}

/* ---- the signed layers (unencrypted, where a byte has no tag) ---- */

static void
expect_tampered(const char *path, const char *why)
{
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	if (rep->status != CU_PKG_TAMPERED)
		fail_msg("%s: status %d (%s)", why, rep->status, rep->reason);
	assert_true(rep->reason[0] != '\0');
	cu_pkg_report_free(rep);
}

static void
test_each_region(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	assert_true(ne >= 7);
	char path[PATH_MAX];
	for (size_t i = 0; i < ne; i++) {
		/* the content: first, middle and last byte; the tar header */
		uint64_t offs[4] = {ents[i].off, ents[i].off + ents[i].len / 2,
		                    ents[i].off + ents[i].len - 1, ents[i].off - CU_TAR_BLOCK + 130};
		for (int k = 0; k < 4; k++) {
			damaged_copy(pkg_plain, offs[k], 0x04, path, sizeof(path));
			expect_tampered(path, ents[i].name);
			unlink(path);
		}
	}
	/* padding after a certificate, and the end blocks */
	const struct ent *ca = find(ents, ne, "certs/site-ca.pem");
	if (ca->len % CU_TAR_BLOCK != 0) {
		damaged_copy(pkg_plain, ca->off + ca->len, 0x01, path, sizeof(path));
		expect_tampered(path, "padding");
		unlink(path);
	}
	damaged_copy(pkg_plain, n - 100, 0x01, path, sizeof(path));
	expect_tampered(path, "end blocks");
	unlink(path);
	/* a changed segment names the camera and the segment's time */
	struct ent *segs[32];
	size_t ns = segments_of(ents, ne, "cam1", segs);
	assert_true(ns >= 4);
	/* every region of a copy is covered by its chain or forced to one value:
	 * the header's fixed and reserved fields and salt, the canonical header,
	 * entry headers (stored length, reserved), a record's and a seal's
	 * reserved bytes, the last seal's signature (covered by the final chain
	 * value only) and its last byte */
	{
		const struct ent *sg = segs[1];
		uint64_t fr[64], se[64], rc[64];
		assert_true(entries_of(sg, CU_ENTRY_FRAME, fr, 64) > 0);
		size_t nse = entries_of(sg, CU_ENTRY_SEAL, se, 64);
		assert_true(nse > 0);
		assert_true(entries_of(sg, CU_ENTRY_RECORD, rc, 64) > 0);
		uint64_t last = se[nse - 1] + CU_ENTRY_HEADER_LEN;
		const struct { uint64_t at; uint8_t x; const char *what; } spots[] = {
			{0, 0x01, "segment magic"}, {8, 0x01, "segment version"},
			{10, 0x01, "segment header length"}, {12, 0x01, "encryption mode"},
			{13, 0x01, "hash algorithm"}, {14, 0x01, "signature algorithm"},
			{15, 0x01, "header reserved byte 15"}, {16, 0x01, "key salt"},
			{47, 0x80, "key salt, last byte"}, {48, 0x01, "store id"},
			{64, 0x01, "camera id"}, {80, 0x01, "segment seq"}, {88, 0x01, "created"},
			{96, 0x01, "first entry"}, {104, 0x01, "previous chain"},
			{136, 0x01, "header reserved bytes 136-159"}, {159, 0x80, "header last byte"},
			{fr[0] + 0, 0x01, "entry magic"}, {fr[0] + 5, 0x01, "frame codec"},
			{fr[0] + 7, 0x02, "frame flags"}, {fr[0] + 8, 0x01, "entry number"},
			{fr[0] + 16, 0x01, "frame time"}, {fr[0] + 24, 0x01, "frame duration"},
			{fr[0] + 28, 0x01, "plaintext length"}, {fr[0] + 32, 0x01, "stored length"},
			{fr[0] + 35, 0x01, "stored length, high byte"},
			{fr[0] + 36, 0x01, "entry reserved bytes"}, {fr[0] + 39, 0x80, "entry reserved"},
			{rc[0] + CU_ENTRY_HEADER_LEN + 4, 0x01, "record reserved bytes"},
			{rc[0] + CU_ENTRY_HEADER_LEN + 40, 0x01, "record hash"},
			{se[0] + 36, 0x01, "seal entry reserved bytes"},
			{se[0] + CU_ENTRY_HEADER_LEN + 1, 0x01, "seal reserved bytes"},
			{last - CU_ENTRY_HEADER_LEN + 16, 0x01, "last seal's time"},
			{last + 8, 0x01, "last seal's first covered entry"},
			{last + 48, 0x01, "last seal's previous-seal hash"},
			{last + 80, 0x01, "last seal's key id"},
			{last + 112, 0x01, "last seal's signature"},
			{sg->len - 1, 0x01, "the copy's last byte"},
		};
		for (size_t k = 0; k < sizeof(spots) / sizeof(spots[0]); k++) {
			damaged_copy(pkg_plain, sg->off + spots[k].at, spots[k].x, path, sizeof(path));
			struct cu_pkg_report *r1 = verify_pkg(path, NULL);
			if (r1->status != CU_PKG_TAMPERED || !pcam(r1, "cam1")->tampered)
				fail_msg("%s: status %d (%s)", spots[k].what, r1->status, r1->reason);
			cu_pkg_report_free(r1);
			unlink(path);
		}
	}
	uint64_t frames[64];
	assert_true(entries_of(segs[2], CU_ENTRY_FRAME, frames, 64) > 3);
	damaged_copy(pkg_plain, segs[2]->off + frames[3] + CU_ENTRY_HEADER_LEN + 10, 0x80, path,
	             sizeof(path));
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	const struct cu_pkg_camera_report *c = pcam(rep, "cam1");
	assert_true(c->tampered);
	assert_false(pcam(rep, "cam2")->tampered);
	assert_true(c->fail_time_us >= T0);
	cu_pkg_report_free(rep);
	free_ents(ents, ne);
	free(d);
}

static void
test_segment_removed(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	struct ent *segs[32] = {0};
	size_t ns = segments_of(ents, ne, "cam1", segs);
	assert_true(ns >= 4);
	char path[PATH_MAX];
	/* removed from the tar only */
	struct ent *victim = segs[1];
	uint8_t *keep = victim->data;
	victim->data = NULL;
	tmp_path(path, sizeof(path), "removed");
	repack(path, ents, ne, mtime, 0);
	expect_tampered(path, "a segment removed");
	/* removed from the manifest too, re-signed with the real server key (an
	 * insider with the store password): the recording chain still tells */
	json_t *m = load_manifest(ents, ne);
	json_t *cams = json_object_get(m, "cameras");
	json_t *c1 = json_array_get(cams, 0);
	json_t *sl = json_object_get(c1, "segments");
	json_int_t frames = json_integer_value(json_object_get(json_array_get(sl, 1), "frames"));
	int64_t seg_from;
	assert_int_equal(cu_time_parse_iso8601(json_string_value(json_object_get(
	                         json_array_get(sl, 2), "from")), &seg_from), 0);
	json_array_remove(sl, 1);
	json_object_set_new(c1, "frames",
	                    json_integer(json_integer_value(json_object_get(c1, "frames")) - frames));
	resign(ents, ne, m, store_dir, NULL);
	json_decref(m);
	repack(path, ents, ne, mtime, 0);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	const struct cu_pkg_camera_report *c = pcam(rep, "cam1");
	assert_true(c->tampered);
	assert_int_equal(c->fail_time_us, seg_from);
	assert_non_null(strstr(c->fail_reason, "does not follow on"));
	assert_non_null(strstr(rep->reason, "cam1"));
	cu_pkg_report_free(rep);
	victim->data = keep;
	free_ents(ents, ne);
	free(d);
}

static void
test_frames_reordered(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	struct ent *segs[32];
	segments_of(ents, ne, "cam1", segs);
	struct ent *seg = segs[1];
	uint64_t fr[64];
	assert_true(entries_of(seg, CU_ENTRY_FRAME, fr, 64) > 6);
	/* swap frames 4 and 5 (adjacent entries) */
	struct cu_entry_header a, b;
	cu_entry_header_decode(seg->data + fr[4], CU_ENTRY_HEADER_LEN, &a);
	cu_entry_header_decode(seg->data + fr[5], CU_ENTRY_HEADER_LEN, &b);
	assert_int_equal(fr[4] + CU_ENTRY_HEADER_LEN + a.stored_len, fr[5]);
	size_t la = CU_ENTRY_HEADER_LEN + a.stored_len, lb = CU_ENTRY_HEADER_LEN + b.stored_len;
	uint8_t *tmp = malloc(la + lb);
	memcpy(tmp, seg->data + fr[5], lb);
	memcpy(tmp + lb, seg->data + fr[4], la);
	memcpy(seg->data + fr[4], tmp, la + lb);
	free(tmp);
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "reordered");
	repack(path, ents, ne, mtime, 0);
	expect_tampered(path, "frames reordered");
	/* and with the manifest made to agree and re-signed with the real key */
	json_t *m = load_manifest(ents, ne);
	rehash_segment(m, seg);
	resign(ents, ne, m, store_dir, NULL);
	json_decref(m);
	repack(path, ents, ne, mtime, 0);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	const struct cu_pkg_camera_report *c = pcam(rep, "cam1");
	assert_true(c->tampered);
	assert_non_null(strstr(c->fail_reason, "reordered"));
	cu_pkg_report_free(rep);
	free_ents(ents, ne);
	free(d);
}

static void
test_manifest_edited(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	struct ent *man = find(ents, ne, "manifest.json");
	const char *edits[][2] = {
		{"Break-in", "Break-up"},                            /* comments */
		{"\"from\":\"2026-01-01T00:00:01Z\"", "\"from\":\"2026-01-01T00:00:02Z\""}, /* range */
		{"\"prevent_reexport\":false", "\"prevent_reexport\":true "},  /* a flag */
		{"\"exporter\":\"alice\"", "\"exporter\":\"mallo\""},
	};
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *text = malloc(man->len + 1);
		memcpy(text, man->data, man->len);
		text[man->len] = '\0';
		char *at = strstr(text, edits[i][0]);
		assert_non_null(at);
		assert_int_equal(strlen(edits[i][0]), strlen(edits[i][1]));
		memcpy(at, edits[i][1], strlen(edits[i][1]));
		struct ent saved = *man;
		man->data = (uint8_t *)text;
		tmp_path(path, sizeof(path), "edited");
		repack(path, ents, ne, mtime, 0);
		struct cu_pkg_report *rep = verify_pkg(path, NULL);
		assert_int_equal(rep->status, CU_PKG_TAMPERED);
		assert_false(rep->export_signature_ok);
		assert_non_null(strstr(rep->reason, "export signature"));
		cu_pkg_report_free(rep);
		*man = saved;
		free(text);
		unlink(path);
	}
	/* the header's prevent-re-export flag set, the header re-hashed */
	tmp_path(path, sizeof(path), "flag");
	repack(path, ents, ne, mtime, CU_PKG_FLAG_NO_REEXPORT);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	assert_non_null(strstr(rep->reason, "flags"));
	cu_pkg_report_free(rep);
	/* the same package unchanged is intact (the repacker is faithful) */
	repack(path, ents, ne, mtime, 0);
	rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	cu_pkg_report_free(rep);
	/* another tar time */
	repack(path, ents, ne, mtime + 1, 0);
	expect_tampered(path, "tar time");
	free_ents(ents, ne);
	free(d);
}

/* A fresh key with a self-made CA and certificate. */
static void
fake_identity(uint8_t priv[static 32], char **ca_pem, size_t *ca_len, char **cert_pem,
              size_t *cert_len, const char *cn)
{
	uint8_t ca_priv[32], ca_pub[32], pub[32];
	assert_int_equal(cu_ed25519_keygen(ca_priv, ca_pub), 0);
	assert_int_equal(cu_ed25519_keygen(priv, pub), 0);
	assert_int_equal(cu_x509_make_ca(ca_priv, "fake CA", "custody site", 3650, ca_pem, ca_len), 0);
	assert_int_equal(cu_x509_issue(*ca_pem, *ca_len, ca_priv, pub, cn, "custody site", 3650,
	                               cert_pem, cert_len), 0);
}

static void
set_file(json_t *m, struct ent *ents, size_t ne, const char *name, const char *pem, size_t len,
         const char *ref)
{
	struct ent *e = find(ents, ne, name);
	set_data(e, pem, len);
	uint8_t sha[CU_SHA256_LEN];
	char hex[65];
	assert_int_equal(cu_sha256(pem, len, sha), 0);
	cu_hex(sha, sizeof(sha), hex);
	json_t *files = json_object_get(m, "files");
	for (size_t i = 0; i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		if (strcmp(json_string_value(json_object_get(f, "name")), name) == 0) {
			json_object_set_new(f, "sha256", json_string(hex));
			json_object_set_new(f, "bytes", json_integer((json_int_t)len));
		}
	}
	struct cu_x509_info info;
	assert_int_equal(cu_x509_info(pem, len, &info), 0);
	cu_hex(info.fingerprint, CU_SHA256_LEN, hex);
	json_object_set_new(m, ref, json_pack("{s:s, s:s}", "subject", info.subject, "sha256", hex));
}

static void
test_resigned_other_key(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	char path[PATH_MAX];
	/* 1: a new exporter certificate that does not chain to the package's CA */
	json_t *m = load_manifest(ents, ne);
	json_object_set_new(m, "comments", json_string("nothing to see"));
	set_file(m, ents, ne, "certs/exporter.pem", fake_cert, fake_cert_len, "server");
	resign(ents, ne, m, NULL, fake_priv);
	json_decref(m);
	tmp_path(path, sizeof(path), "resigned");
	repack(path, ents, ne, mtime, 0);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	assert_false(rep->chain_ok);
	assert_non_null(strstr(rep->reason, "chain"));
	cu_pkg_report_free(rep);
	/* 2: the fake CA too: the export chains, the recorder does not */
	m = load_manifest(ents, ne);
	set_file(m, ents, ne, "certs/site-ca.pem", fake_ca, fake_ca_len, "site_ca");
	resign(ents, ne, m, NULL, fake_priv);
	json_decref(m);
	repack(path, ents, ne, mtime, 0);
	rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_false(rep->chain_ok);
	if (strstr(rep->reason, "recording server's certificate") == NULL)
		fail_msg("reason: %s", rep->reason);
	cu_pkg_report_free(rep);
	/* 3: the recorder too: every chain holds, the seals do not */
	m = load_manifest(ents, ne);
	set_file(m, ents, ne, "certs/recorder.pem", fake_cert, fake_cert_len, "recorder");
	resign(ents, ne, m, NULL, fake_priv);
	json_decref(m);
	repack(path, ents, ne, mtime, 0);
	rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	assert_true(rep->chain_ok);
	assert_true(pcam(rep, "cam1")->tampered);
	assert_true(pcam(rep, "cam2")->tampered);
	assert_non_null(strstr(pcam(rep, "cam1")->fail_reason, "signing key"));
	/* the audit head was signed by the real server, not by this one */
	assert_false(rep->audit_head_ok);
	cu_pkg_report_free(rep);
	/* and a pinned CA tells at once */
	cu_store *s = open_store(store_dir);
	uint8_t fp[CU_SHA256_LEN];
	memcpy(fp, s->ca.fingerprint, sizeof(fp));
	cu_store_close(s);
	struct cu_pkg_verify_opts o = {.ca_fingerprint = fp};
	assert_int_equal(cu_pkg_verify(path, &o, &rep), 0);
	assert_true(rep->ca_mismatch);
	cu_pkg_report_free(rep);
	free_ents(ents, ne);
	free(d);
}

static void
test_seal_signature_replaced(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_plain, &d, &n);
	struct ent ents[ENTS_MAX];
	int64_t mtime;
	size_t ne = unpack(d, n, ents, &mtime);
	struct ent *segs[32];
	assert_true(segments_of(ents, ne, "cam1", segs) >= 3);
	struct ent *seg = segs[2];
	uint64_t seals[64];
	assert_true(entries_of(seg, CU_ENTRY_SEAL, seals, 64) >= 2);
	/* another signature in the last seal's body (bytes 112..175) */
	uint8_t *sig = seg->data + seals[1] + CU_ENTRY_HEADER_LEN + CU_SEAL_SIGNED_OFF;
	uint8_t other[32];
	memset(other, 0x42, sizeof(other));
	assert_int_equal(cu_ed25519_sign(other, "x", 1, sig), 0);
	json_t *m = load_manifest(ents, ne);
	rehash_segment(m, seg);
	int64_t seg_from = -1;
	json_t *sl = json_object_get(json_array_get(json_object_get(m, "cameras"), 0), "segments");
	assert_int_equal(cu_time_parse_iso8601(json_string_value(json_object_get(
	                         json_array_get(sl, 2), "from")), &seg_from), 0);
	resign(ents, ne, m, store_dir, NULL);
	json_decref(m);
	char path[PATH_MAX];
	tmp_path(path, sizeof(path), "seal");
	repack(path, ents, ne, mtime, 0);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	assert_int_equal(rep->status, CU_PKG_TAMPERED);
	assert_true(rep->export_signature_ok);
	assert_true(rep->chain_ok);
	const struct cu_pkg_camera_report *c = pcam(rep, "cam1");
	assert_true(c->tampered);
	assert_int_equal(c->fail_time_us, seg_from);
	assert_non_null(strstr(c->fail_reason, "signature does not verify"));
	assert_false(pcam(rep, "cam2")->tampered);
	char when[CU_TIME_ISO_MAX];
	cu_time_text(seg_from, when);
	assert_non_null(strstr(rep->reason, "camera cam1"));
	assert_non_null(strstr(rep->reason, when));
	cu_pkg_report_free(rep);
	free_ents(ents, ne);
	free(d);
}

/* ---- export ---- */

static void
test_tampered_source_refused(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX], seg[PATH_MAX], tmp[PATH_MAX + 8];
	make_store(dir, sizeof(dir), CU_ENC_STRONG);
	record(dir);
	cu_store *s = open_store(dir);
	struct cu_cam_row camrow;
	assert_int_equal(cu_catalog_camera(s, "cam1", false, &camrow), 0);
	assert_int_equal(cu_store_segment_path(s, camrow.id, 2, seg, sizeof(seg)), 0);
	cu_store_close(s);
	uint8_t *d;
	size_t n;
	read_file(seg, &d, &n);
	d[n / 2] ^= 0x20;
	write_file(seg, d, n);
	free(d);
	tmp_path(path, sizeof(path), "refused");
	struct cu_pkg_export_opts o = base_opts(true);
	assert_int_equal(do_export(dir, path, &o, NULL), CU_ERR_TAMPERED);
	assert_non_null(strstr(cu_error_detail(), "cam1"));
	assert_non_null(strstr(cu_error_detail(), "2026-01-01T00:00:02Z"));
	struct stat st;
	assert_int_equal(lstat(path, &st), -1);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(lstat(tmp, &st), -1);
	/* the other camera alone still exports */
	o.ranges = &ranges[1];
	o.nranges = 1;
	assert_int_equal(do_export(dir, path, &o, NULL), 0);
	struct cu_pkg_report *rep = verify_pkg(path, PKG_PW);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	cu_pkg_report_free(rep);
}

static void
test_export_refusals(void **state)
{
	(void)state;
	char path[PATH_MAX];
	struct cu_pkg_export_opts o = base_opts(false);
	/* the path exists */
	assert_int_equal(do_export(store_dir, pkg_plain, &o, NULL), CU_ERR_EXIST);
	tmp_path(path, sizeof(path), "refusal");
	/* no disk would keep this much free: refused before any work, nothing left */
	char tmp[PATH_MAX + 8];
	struct stat st;
	o.keep_free = UINT64_MAX / 4;
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_NOSPC);
	assert_non_null(strstr(cu_error_detail(), "must stay free"));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(lstat(path, &st), 0);
	assert_int_not_equal(lstat(tmp, &st), 0);
	/* a modest reserve on the same disk is fine (the tests' /tmp has room) */
	o.keep_free = 1;
	o.room_for_copy = true;
	char ok[PATH_MAX];
	tmp_path(ok, sizeof(ok), "room");
	assert_int_equal(do_export(store_dir, ok, &o, NULL), 0);
	o = base_opts(false);
	struct cu_pkg_range bad[2] = {ranges[0], ranges[0]};
	o.ranges = bad;
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL); /* twice */
	bad[1] = (struct cu_pkg_range){"cam2", T0 + 5 * SEC, T0 + 4 * SEC};
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL); /* from > to */
	bad[1] = (struct cu_pkg_range){"cam2", T0, T0 + 25 * 3600 * SEC};
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL); /* > 24 h */
	bad[1] = (struct cu_pkg_range){"cam9", T0, T0 + SEC};
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_NOTFOUND);
	bad[1] = (struct cu_pkg_range){"cam2", T0 + 3600 * SEC, T0 + 3601 * SEC};
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_NOTFOUND); /* no frames */
	o = base_opts(true);
	o.password_len = 3;
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	o = base_opts(false);
	o.case_ref = "bad\x01";
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	o = base_opts(false);
	o.comments = "\xff\xfe";
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	o = base_opts(false);
	o.exporter = "";
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	/* an audit head that does not verify, or does not cover the entry */
	o = base_opts(false);
	o.audit_index = (int64_t)audit_index;
	o.audit_head_size = audit_head.size;
	o.audit_head_time_us = audit_head.time_us;
	memcpy(o.audit_head_root, audit_head.root, CU_SHA256_LEN);
	memcpy(o.audit_head_chain, audit_head.chain, CU_SHA256_LEN);
	memcpy(o.audit_head_sig, audit_head.signature, CU_ED25519_SIG_LEN);
	o.audit_head_root[0] ^= 1;
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	o.audit_head_root[0] ^= 1;
	o.audit_index = (int64_t)audit_head.size;
	assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_INVAL);
	/* a directory that does not exist fails at once */
	o = base_opts(false);
	assert_int_equal(do_export(store_dir, "/nonexistent-dir/x.cpkg", &o, NULL), CU_ERR_NOTFOUND);
	/* without the password: no key to sign with */
	cu_store *s;
	assert_int_equal(cu_store_open(store_dir, NULL, 0, &s), 0);
	o = base_opts(false);
	assert_int_equal(cu_pkg_export(s, path, &o, NULL), CU_ERR_PASSWORD);
	cu_store_close(s);
	assert_int_equal(lstat(path, &st), -1);
}

struct prog {
	uint64_t last, total, calls;
	bool monotonic;
};

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct prog *p = ctx;
	if (done < p->last || (p->total != 0 && total != p->total) || done > total)
		p->monotonic = false;
	p->last = done;
	p->total = total;
	p->calls++;
}

static void
test_export_while_recording(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	make_store(dir, sizeof(dir), CU_ENC_LIGHT);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "door", &w), 0);
	write_frames(w, T0, 0, 130, 30000, 3000); /* 5.2 s: the newest segment is open */
	assert_int_equal(cu_writer_flush(w), 0);
	struct cu_pkg_range r1 = {"door", T0, T0 + 60 * SEC};
	struct cu_pkg_export_opts o = base_opts(false);
	o.ranges = &r1;
	o.nranges = 1;
	o.comments = NULL;
	o.profile = NULL;
	struct prog pr = {.monotonic = true};
	o.progress = on_progress;
	o.progress_ctx = &pr;
	struct cu_pkg_export_result res;
	tmp_path(path, sizeof(path), "live");
	assert_int_equal(cu_pkg_export(s, path, &o, &res), 0);
	assert_true(pr.monotonic);
	assert_true(pr.calls > 3);
	assert_int_equal(pr.last, pr.total);
	assert_int_equal(res.frames, 130);
	assert_int_equal(res.segments, 3);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, res.bytes);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* res.sha256 is the file's, hashed in one go from what is on disk */
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *whole = malloc(res.bytes), digest[CU_SHA256_LEN];
	assert_non_null(whole);
	assert_int_equal(fread(whole, 1, res.bytes, f), res.bytes);
	fclose(f);
	assert_int_equal(cu_sha256(whole, res.bytes, digest), 0);
	assert_memory_equal(digest, res.sha256, CU_SHA256_LEN);
	free(whole);
	write_frames(w, T0, 130, 20, 30000, 3000);
	assert_int_equal(cu_writer_close(w), 0);
	cu_store_close(s);
	pr = (struct prog){.monotonic = true};
	struct cu_pkg_verify_opts vo = {.progress = on_progress, .progress_ctx = &pr};
	struct cu_pkg_report *rep;
	assert_int_equal(cu_pkg_verify(path, &vo, &rep), 0);
	assert_int_equal(rep->status, CU_PKG_INTACT);
	assert_int_equal(rep->cameras[0].frames, 130);
	assert_string_equal(rep->comments, "");
	assert_true(pr.monotonic);
	assert_int_equal(pr.last, pr.total);
	cu_pkg_report_free(rep);
}


/* Retention kept locked footage and deleted what was around it: a package
 * across the hole carries the signed record that names it, or is refused. */
static void
test_export_across_retention_hole(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	tmp_path(dir, sizeof(dir), "store");
	struct cu_store_create_opts co = {.encryption = CU_ENC_STRONG, .segment_us = SEC,
	                                  .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &co), 0);
	cu_store *s = open_store(dir);
	cu_writer *w;
	assert_int_equal(cu_writer_open(s, "cam", &w), 0);
	write_frames(w, T0, 0, 250, 20000, 1500); /* segment k holds [k-1 s, k s]; 10 is open */
	struct cu_lock lk = {.headline = "kept", .ncameras = 1, .cameras = {"cam"},
	                     .from_us = T0 + 4200000, .to_us = T0 + 5500000,
	                     .created_by = "alice"};
	assert_int_equal(cu_lock_create(s, &lk), 0);
	struct cu_retention_result res;
	assert_int_equal(cu_writer_retention(w, 0, 1, T0 + 100 * SEC, &res), 0);
	write_frames(w, T0, 250, 150, 20000, 1500);
	assert_int_equal(cu_writer_retention(w, 3 * SEC, 0, T0 + 17 * SEC, &res), 0);
	assert_int_equal(cu_writer_close(w), 0);
	/* left: 5, 6, 14, 15, 16; the records of both holes are in 16 */
	struct cu_pkg_range r1 = {"cam", T0, T0 + 20 * SEC};
	struct cu_pkg_export_opts o = base_opts(false);
	o.ranges = &r1;
	o.nranges = 1;
	tmp_path(path, sizeof(path), "hole");
	assert_int_equal(cu_pkg_export(s, path, &o, NULL), 0);
	struct cu_pkg_report *rep = verify_pkg(path, NULL);
	if (rep->status != CU_PKG_INTACT)
		fail_msg("%s", rep->reason);
	assert_int_equal(rep->cameras[0].segments, 5);
	size_t retention = 0;
	for (size_t i = 0; i < rep->cameras[0].ngaps; i++)
		retention += rep->cameras[0].gaps[i].kind == CU_REC_RETENTION;
	assert_true(retention >= 1);
	cu_pkg_report_free(rep);
	/* 6 and 14 without 16: the hole cannot be proven inside the package */
	r1 = (struct cu_pkg_range){"cam", T0 + 5 * SEC, T0 + 13500000};
	tmp_path(path, sizeof(path), "hole");
	assert_int_equal(cu_pkg_export(s, path, &o, NULL), CU_ERR_UNSUPPORTED);
	assert_non_null(strstr(cu_error_detail(), "retention"));
	struct stat st;
	assert_int_equal(lstat(path, &st), -1);
	cu_store_close(s);
}

/* ---- the pieces ---- */

static void
test_tar_and_header(void **state)
{
	(void)state;
	uint8_t b[CU_TAR_BLOCK];
	char name[CU_TAR_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;
	assert_int_equal(cu_tar_header("segments/cam1/0000000000000001.seg", 1234567, 1767225600, b),
	                 0);
	assert_int_equal(cu_tar_parse(b, name, &size, &mtime), 0);
	assert_string_equal(name, "segments/cam1/0000000000000001.seg");
	assert_int_equal(size, 1234567);
	assert_int_equal(mtime, 1767225600);
	assert_memory_equal(b + 257, "ustar\0" "00", 8);
	for (size_t i = 0; i < CU_TAR_BLOCK; i++) {
		uint8_t c[CU_TAR_BLOCK];
		memcpy(c, b, sizeof(c));
		c[i] ^= 0x01;
		assert_int_equal(cu_tar_parse(c, name, &size, &mtime), CU_ERR_FORMAT);
	}
	const char *bad[] = {"", "/abs", "../x", "a/../b", "a//b", "a/", "a b", ".",
	                     "0123456789012345678901234567890123456789012345678901234567890123456789"
	                     "012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cu_tar_header(bad[i], 1, 0, b), CU_ERR_LIMIT);
	assert_int_equal(cu_tar_padded(0), 0);
	assert_int_equal(cu_tar_padded(1), 512);
	assert_int_equal(cu_tar_padded(512), 512);
	/* the header */
	struct cu_pkg_header h = {.version = 1, .flags = 3, .chunk = CU_PKG_CHUNK,
	                          .kdf = quick_kdf, .plain_len = 5 * (uint64_t)CU_PKG_CHUNK + 1024};
	uint8_t hb[CU_PKG_HEADER_LEN];
	assert_int_equal(cu_pkg_header_encode(&h, hb), 0);
	assert_memory_equal(hb, "CUSTPKG\0", 8);
	assert_int_equal(hb[8], 1);
	assert_int_equal(hb[12], 128);
	assert_int_equal(hb[18], 0x10); /* 1 MiB little-endian */
	struct cu_pkg_header d;
	assert_int_equal(cu_pkg_header_decode(hb, sizeof(hb), &d), 0);
	assert_int_equal(cu_pkg_chunks(d.plain_len), 6);
	assert_int_equal(cu_pkg_file_size(&d), 128 + d.plain_len + 6 * 16);
	h.version = 2;
	assert_int_equal(cu_pkg_header_encode(&h, hb), 0);
	assert_int_equal(cu_pkg_header_decode(hb, sizeof(hb), &d), CU_ERR_UNSUPPORTED);
	h.version = 1;
	h.kdf.m_cost_kib = 2u * 1024 * 1024;
	assert_int_equal(cu_pkg_header_encode(&h, hb), 0);
	assert_int_equal(cu_pkg_header_decode(hb, sizeof(hb), &d), CU_ERR_TAMPERED);
}

/* The recipe's promise: a chunk's GCM ciphertext decrypts with plain
 * AES-256-CTR (openssl enc -aes-256-ctr) and IV = nonce || 00000002. */
static void
test_chunk_is_ctr(void **state)
{
	(void)state;
	uint8_t *d;
	size_t n;
	read_file(pkg_enc, &d, &n);
	struct cu_pkg_header h;
	assert_int_equal(cu_pkg_header_decode(d, n, &h), 0);
	uint8_t key[32], check[32];
	assert_int_equal(cu_pkg_derive(PKG_PW, strlen(PKG_PW), &h, key, check), 0);
	assert_memory_equal(check, h.key_check, 32);
	int fd = open(pkg_enc, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	cu_pkg_in *in;
	assert_int_equal(cu_pkg_in_new(fd, &h, key, &in), 0);
	uint8_t *want = malloc(CU_PKG_CHUNK), *got = malloc(CU_PKG_CHUNK);
	for (uint64_t i = 0; i < 2; i++) {
		assert_int_equal(cu_pkg_in_read(in, want, CU_PKG_CHUNK, i * CU_PKG_CHUNK), 0);
		uint8_t iv[16] = {0};
		for (int k = 0; k < 8; k++)
			iv[4 + k] = (uint8_t)(i >> (56 - 8 * k));
		iv[15] = 2;
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int outl = 0, fin = 0;
		assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, iv), 1);
		assert_int_equal(EVP_DecryptUpdate(c, got, &outl, d + cu_pkg_chunk_offset(&h, i),
		                                   CU_PKG_CHUNK), 1);
		assert_int_equal(EVP_DecryptFinal_ex(c, got + outl, &fin), 1);
		EVP_CIPHER_CTX_free(c);
		assert_int_equal(outl + fin, CU_PKG_CHUNK);
		assert_memory_equal(got, want, CU_PKG_CHUNK);
	}
	char name[CU_TAR_NAME_MAX + 1];
	uint64_t size;
	int64_t mtime;
	assert_int_equal(cu_pkg_in_read(in, want, CU_TAR_BLOCK, 0), 0);
	assert_int_equal(cu_tar_parse(want, name, &size, &mtime), 0);
	assert_string_equal(name, "manifest.json");
	cu_pkg_in_free(in);
	close(fd);
	free(want);
	free(got);
	cu_wipe(key, sizeof(key));
	free(d);
}

/* ---- the test vectors ---- */

#define VECTOR_PW "custody-test-vector-package"

static void
test_vectors(void **state)
{
	(void)state;
	const char *data = getenv("CU_TEST_DATA");
	if (data == NULL)
		fail_msg("CU_TEST_DATA is not set: the test vectors cannot be found");
	char path[PATH_MAX];
	const char *names[] = {"encrypted.cpkg", "plain.cpkg"};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cu_path(path, sizeof(path), "%s/package-vector/%s", data, names[i]), 0);
		struct cu_pkg_report *rep = verify_pkg(path, i == 0 ? VECTOR_PW : NULL);
		if (rep->status != CU_PKG_INTACT)
			fail_msg("%s: %s", names[i], rep->reason);
		assert_int_equal(rep->encrypted, i == 0);
		assert_int_equal(rep->prevent_reexport, i == 0);
		assert_string_equal(rep->case_ref, "VECTOR-1");
		assert_string_equal(rep->exporter, "vector");
		assert_int_equal(rep->ncameras, 2);
		assert_int_equal(pcam(rep, "cam1")->frames, 100);
		assert_int_equal(pcam(rep, "cam1")->segments, 4);
		assert_int_equal(pcam(rep, "cam2")->frames, 50);
		assert_int_equal(pcam(rep, "cam2")->segments, 2);
		if (i == 0) {
			assert_true(rep->audit_head_ok);
			assert_int_equal(rep->audit_index, 0);
		} else {
			assert_int_equal(rep->audit_index, -1);
		}
		cu_pkg_report_free(rep);
		if (i == 0) {
			rep = verify_pkg(path, "wrong password!");
			assert_int_equal(rep->status, CU_PKG_WRONG_PASSWORD);
			cu_pkg_report_free(rep);
		}
	}
}

/* ---- cancelling an export ---- */

struct cancel_at {
	atomic_bool flag;
	double at;                          /* set the flag once done/total reaches this */
};

static void
cancel_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct cancel_at *c = ctx;
	if (total > 0 && (double)done >= c->at * (double)total)
		atomic_store(&c->flag, true);
}

static void
test_export_cancelled(void **state)
{
	(void)state;
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	struct stat st;
	/* progress runs over three passes: verify, measure, write; stop before
	 * it starts, in the measuring pass, and in the writing pass (encrypted) */
	const double at[] = {-1, 0.4, 0.8};
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		struct cancel_at c = {.at = at[k]};
		atomic_init(&c.flag, at[k] < 0);
		struct cu_pkg_export_opts o = base_opts(k == 2);
		o.cancel = &c.flag;
		o.progress = cancel_progress;
		o.progress_ctx = &c;
		tmp_path(path, sizeof(path), "cancelled");
		assert_int_equal(do_export(store_dir, path, &o, NULL), CU_ERR_CANCELLED);
		assert_true(atomic_load(&c.flag));
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		assert_int_not_equal(lstat(path, &st), 0);
		assert_int_not_equal(lstat(tmp, &st), 0);
	}
	/* a flag never set changes nothing */
	struct cancel_at c = {.at = 2};
	atomic_init(&c.flag, false);
	struct cu_pkg_export_opts o = base_opts(false);
	o.cancel = &c.flag;
	tmp_path(path, sizeof(path), "not-cancelled");
	assert_int_equal(do_export(store_dir, path, &o, NULL), 0);
	assert_int_equal(lstat(path, &st), 0);
}

/* Two exports at once: what the first reserved is not free for the second. */
struct nest {
	uint64_t extra;
	bool done;
	int inner_r;
	char detail[512];
	char path[PATH_MAX];
};

static void
nest_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct nest *n = ctx;
	(void)done, (void)total;
	if (n->done)
		return;
	n->done = true;
	struct cu_pkg_export_opts o = base_opts(false);
	o.keep_free = 1;
	o.extra_bytes = n->extra;
	n->inner_r = do_export(store_dir, n->path, &o, NULL);
	snprintf(n->detail, sizeof(n->detail), "%s", cu_error_detail());
}

static void
test_export_room_is_reserved(void **state)
{
	(void)state;
	struct statvfs v;
	assert_int_equal(statvfs(tmproot, &v), 0);
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	/* each claims 60 % of the free space (a number only: nothing is written
	 * for it): either fits alone, both do not */
	struct nest n = {.extra = avail / 10 * 6};
	tmp_path(n.path, sizeof(n.path), "second");
	struct cu_pkg_export_opts o = base_opts(false);
	o.keep_free = 1;
	o.extra_bytes = n.extra;
	o.progress = nest_progress;
	o.progress_ctx = &n;
	char first[PATH_MAX];
	tmp_path(first, sizeof(first), "first");
	assert_int_equal(do_export(store_dir, first, &o, NULL), 0);
	assert_true(n.done);
	assert_int_equal(n.inner_r, CU_ERR_NOSPC);
	assert_non_null(strstr(n.detail, "kept for exports already running"));
	/* the first has ended: its room is given back */
	o.progress = NULL;
	assert_int_equal(do_export(store_dir, n.path, &o, NULL), 0);
}

static void
test_verify_cancelled(void **state)
{
	(void)state;
	atomic_bool stop;
	atomic_init(&stop, true);
	cu_store *s = open_store(store_dir);
	struct cu_verify_opts vo = {.cancel = &stop};
	struct cu_verify_report *rep = NULL;
	assert_int_equal(cu_store_verify(s, &vo, &rep), CU_ERR_CANCELLED);
	assert_null(rep);
	atomic_store(&stop, false);
	assert_int_equal(cu_store_verify(s, &vo, &rep), 0);
	assert_false(rep->tampered);
	cu_verify_report_free(rep);
	cu_store_close(s);
}

/* ---- the player folder ---- */

/* Recomputes a ustar header's checksum after an edit. */
static void
tar_resum(uint8_t *h)
{
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (size_t i = 0; i < CU_TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	uint8_t *d = NULL;
	assert_int_equal(cu_file_read(path, 64 * 1024 * 1024, &d, len), 0);
	return d;
}

static void
spit(const char *path, const uint8_t *d, size_t len)
{
	unlink(path);
	assert_int_equal(cu_file_write_atomic(path, d, len, 0600, 1), 0);
}

/* Unpacks path into a new directory: the result, and dir gets the folder. */
static int
untar(const char *path, char *out, size_t cap, char *dir)
{
	tmp_path(out, cap, "unpacked");
	assert_int_equal(mkdir(out, 0755), 0);
	int in = open(path, O_RDONLY | O_CLOEXEC);
	int dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(in >= 0 && dfd >= 0);
	int r = cu_pkg_folder_untar(in, dfd, dir, NULL);
	close(in);
	close(dfd);
	return r;
}

static void
test_player_folder(void **state)
{
	(void)state;
	char tar[PATH_MAX], out[PATH_MAX], dir[CU_TAR_NAME_MAX + 1], f[PATH_MAX + 64];
	int pfd = open(pkg_plain, O_RDONLY | O_CLOEXEC);
	int xfd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	assert_true(pfd >= 0 && xfd >= 0);
	tmp_path(tar, sizeof(tar), "folder.tar");
	int fd = open(tar, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	struct cu_pkg_folder_opts fo = {.dir = "case-42", .package_fd = pfd, .program_fd = xfd,
	                                .mtime_s = T0 / SEC};
	uint64_t bytes = 0;
	assert_int_equal(cu_pkg_folder_tar(fd, &fo, &bytes), 0);
	close(fd);
	/* a folder name with a '/' is refused */
	fo.dir = "a/b";
	assert_int_equal(cu_pkg_folder_tar(-1, &fo, NULL), CU_ERR_INVAL);
	size_t len;
	uint8_t *good = slurp(tar, &len);
	assert_int_equal(len, bytes);
	assert_int_equal(len % CU_TAR_BLOCK, 0);

	/* unpacked: the four files, the program runnable, the package the same */
	assert_int_equal(untar(tar, out, sizeof(out), dir), 0);
	assert_string_equal(dir, "case-42");
	struct stat st;
	snprintf(f, sizeof(f), "%s/custody", out);
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(f, sizeof(f), "%s/" CU_PKG_FOLDER_PACKAGE, out);
	size_t a_len, b_len;
	uint8_t *a = slurp(f, &a_len), *b = slurp(pkg_plain, &b_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	free(a);
	free(b);
	snprintf(f, sizeof(f), "%s/" CU_PKG_FOLDER_RECIPE, out);
	a = slurp(f, &a_len);
	assert_int_equal(a_len, cu_pkg_recipe_sh_len);
	assert_memory_equal(a, cu_pkg_recipe_sh, a_len);
	free(a);

	/* each hostile change is refused */
	uint8_t *bad = malloc(len + 2 * CU_TAR_BLOCK);
	assert_non_null(bad);
	size_t pkg_blocks = (b_len + CU_TAR_BLOCK - 1) / CU_TAR_BLOCK;
	size_t prog = (1 + pkg_blocks) * CU_TAR_BLOCK;   /* the program's header */
	struct {
		const char *what;
		size_t len;
	} cases[] = {
		{"name ../evil", len}, {"mode 04755", len}, {"a package byte", len},
		{"truncated", len - CU_TAR_BLOCK}, {"junk after the end", len + 1},
		{"a non-zero padding byte", len}, {"another folder", len},
		{"an end block not zero", len}, {"README hash line", len},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, good, len);
		bad[len] = 'x';
		switch (i) {
		case 0: memcpy(bad, "../evil", 8); tar_resum(bad); break;
		case 1: memcpy(bad + prog + 100, "0004755", 7); tar_resum(bad + prog); break;
		case 2: bad[CU_TAR_BLOCK + 1000] ^= 1; break;
		case 5:
			/* the package's last block is padded unless it fills it */
			if (b_len % CU_TAR_BLOCK == 0)
				bad[CU_TAR_BLOCK + 1000] ^= 1; /* (then it is caught as case 2) */
			else
				bad[CU_TAR_BLOCK + b_len] = 1;
			break;
		case 6: memcpy(bad + prog, "case-43", 7); tar_resum(bad + prog); break;
		case 7: bad[len - 1] = 1; break;
		case 8: {
			/* the last file is README.txt: change a hex digit of its text */
			uint8_t *p = memmem(bad, len, "  verify-package.sh\n", 20);
			assert_non_null(p);
			p[-1] = p[-1] == '0' ? '1' : '0';
			break;
		}
		default: break;
		}
		char path[PATH_MAX];
		tmp_path(path, sizeof(path), "bad.tar");
		spit(path, bad, cases[i].len);
		int r = untar(path, out, sizeof(out), dir);
		if (r != CU_ERR_FORMAT)
			fail_msg("%s: %d (%s)", cases[i].what, r, cu_error_detail());
		assert_true(strlen(cu_error_detail()) > 10);
	}
	free(bad);
	free(good);
	close(pfd);
	close(xfd);
}

/* ---- fixture ---- */

static int
setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 2654435761u >> 24);
	memcpy(payload, "\0\0\0\1", 4);
	if (mkdtemp(tmproot) == NULL)
		return -1;
	char b[PATH_MAX];
	fake_identity(fake_priv, &fake_ca, &fake_ca_len, &fake_cert, &fake_cert_len,
	              "custody recording server x");
	make_store(store_dir, sizeof(store_dir), CU_ENC_STRONG);
	record(store_dir);
	/* the audit entry of the plain export */
	cu_store *s = open_store(store_dir);
	cu_audit *a;
	assert_int_equal(cu_audit_open(s, &a), 0);
	struct cu_audit_entry e = {.type = "export", .actor = "alice", .source = "cli",
	                           .detail = "{\"case\":\"2026-0042\"}"};
	assert_int_equal(cu_audit_append(a, &e, &audit_index), 0);
	assert_true(cu_audit_sign_head(a, &audit_head) >= 0);
	cu_audit_close(a);
	cu_store_close(s);
	tmp_path(pkg_enc, sizeof(pkg_enc), "enc.cpkg");
	tmp_path(pkg_plain, sizeof(pkg_plain), "plain.cpkg");
	struct cu_pkg_export_opts o = base_opts(true);
	struct cu_pkg_export_result res;
	if (do_export(store_dir, pkg_enc, &o, &res) != 0) {
		fprintf(stderr, "export: %s\n", cu_error_detail());
		return -1;
	}
	o = base_opts(false);
	o.audit_index = (int64_t)audit_index;
	o.audit_head_size = audit_head.size;
	o.audit_head_time_us = audit_head.time_us;
	memcpy(o.audit_head_root, audit_head.root, CU_SHA256_LEN);
	memcpy(o.audit_head_chain, audit_head.chain, CU_SHA256_LEN);
	memcpy(o.audit_head_sig, audit_head.signature, CU_ED25519_SIG_LEN);
	if (do_export(store_dir, pkg_plain, &o, &res) != 0) {
		fprintf(stderr, "export: %s\n", cu_error_detail());
		return -1;
	}
	(void)b;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmproot);
	free(fake_ca);
	free(fake_cert);
	cu_wipe(fake_priv, sizeof(fake_priv));
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- writing the vectors ---- */

static int
write_vectors(const char *out)
{
	const char *data = getenv("CU_TEST_DATA");
	char src[PATH_MAX], work[] = "/tmp/custody-vector-XXXXXX", store[PATH_MAX + 16];
	char cmd[3 * PATH_MAX], path[PATH_MAX];
	if (data == NULL || mkdtemp(work) == NULL)
		return 2;
	snprintf(src, sizeof(src), "%s/store-vector/none", data);
	snprintf(store, sizeof(store), "%s/store", work);
	/* a copy: custody never changes a store it verifies, but the audit entry
	 * of the encrypted export goes into the copy's new audit.db */
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", src, store);
	if (system(cmd) != 0)
		return 2;
	static const char spw[] = "custody-test-vector-password";
	cu_store *s;
	cu_audit *a;
	struct cu_audit_head head;
	uint64_t index;
	int r = cu_store_open(store, spw, strlen(spw), &s);
	if (r < 0)
		goto fail;
	struct cu_pkg_range vr[2] = {
		{"cam1", T0, T0 + 62 * SEC},
		{"cam2", T0, T0 + 3 * SEC},
	};
	struct cu_audit_entry e = {.type = "export", .actor = "vector", .source = "cli",
	                           .detail = "{\"case\":\"VECTOR-1\",\"encrypted\":true}"};
	if ((r = cu_audit_open(s, &a)) < 0)
		goto fail;
	if ((r = cu_audit_append(a, &e, &index)) < 0 || (r = cu_audit_sign_head(a, &head)) < 0) {
		cu_audit_close(a);
		goto fail;
	}
	cu_audit_close(a);
	for (int i = 0; i < 2; i++) {
		struct cu_pkg_export_opts o = {
			.ranges = vr, .nranges = 2, .case_ref = "VECTOR-1",
			.comments = "Test vector: docs/formats/evidence-package.md.", .exporter = "vector",
			.profile = i == 0 ? "court" : "open", .encrypt = i == 0, .password = VECTOR_PW,
			.password_len = strlen(VECTOR_PW), .prevent_reexport = i == 0, .audit_index = -1,
		};
		if (i == 0) {
			o.audit_index = (int64_t)index;
			o.audit_head_size = head.size;
			o.audit_head_time_us = head.time_us;
			memcpy(o.audit_head_root, head.root, CU_SHA256_LEN);
			memcpy(o.audit_head_chain, head.chain, CU_SHA256_LEN);
			memcpy(o.audit_head_sig, head.signature, CU_ED25519_SIG_LEN);
		}
		snprintf(path, sizeof(path), "%s/%s", out, i == 0 ? "encrypted.cpkg" : "plain.cpkg");
		unlink(path);
		if ((r = cu_pkg_export(s, path, &o, NULL)) < 0)
			goto fail;
		printf("wrote %s\n", path);
	}
	cu_store_close(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
	return system(cmd) == 0 ? 0 : 1;
fail:
	fprintf(stderr, "write-vector: %s: %s\n", cu_strerror(r), cu_error_detail());
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-vector") == 0)
		return write_vectors(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_and_header),
		cmocka_unit_test(test_chunk_is_ctr),
		cmocka_unit_test(test_roundtrip_encrypted),
		cmocka_unit_test(test_roundtrip_plain),
		cmocka_unit_test(test_wrong_password_vs_damage),
		cmocka_unit_test(test_each_chunk),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_each_region),
		cmocka_unit_test(test_segment_removed),
		cmocka_unit_test(test_frames_reordered),
		cmocka_unit_test(test_manifest_edited),
		cmocka_unit_test(test_resigned_other_key),
		cmocka_unit_test(test_seal_signature_replaced),
		cmocka_unit_test(test_tampered_source_refused),
		cmocka_unit_test(test_export_refusals),
		cmocka_unit_test(test_export_while_recording),
		cmocka_unit_test(test_export_across_retention_hole),
		cmocka_unit_test(test_export_cancelled),
		cmocka_unit_test(test_export_room_is_reserved),
		cmocka_unit_test(test_verify_cancelled),
		cmocka_unit_test(test_player_folder),
		cmocka_unit_test(test_vectors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
