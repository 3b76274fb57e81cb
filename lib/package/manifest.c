/* manifest.json: what the export signature covers. Written canonically
 * (jansson, JSON_COMPACT | JSON_SORT_KEYS); read strictly, every field with
 * its type and limit (docs/formats/evidence-package.md, "manifest.json"). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "custody/time.h"
#include "custody/x509.h"
#include "package/package_int.h"
#include "store/format.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

const char *const cu_pkg_file_names[CU_PKG_FILES] = {
	"certs/site-ca.pem", "certs/recorder.pem", "certs/exporter.pem",
};

int
cu_pkg_segment_name(const char *camera, uint64_t seq, char out[static CU_TAR_NAME_MAX + 1])
{
	return cu_path(out, CU_TAR_NAME_MAX + 1, "segments/%s/%016llu.seg", camera,
	               (unsigned long long)seq);
}

static bool
gap_wanted(const struct cu_record *rec, int64_t from_us, int64_t to_us)
{
	if (rec->kind != CU_REC_GAP && rec->kind != CU_REC_RESTART &&
	    rec->kind != CU_REC_RETENTION && rec->kind != CU_REC_EVENT)
		return false;
	if (rec->kind == CU_REC_RETENTION && rec->aux1 >= rec->aux2)
		return false; /* names a kept segment, deletes nothing */
	return rec->from_us >= 0 && rec->to_us >= rec->from_us && rec->from_us <= to_us &&
	       rec->to_us >= from_us;
}

bool
cu_pkg_record_wanted(const struct cu_record *rec, int64_t from_us, int64_t to_us)
{
	return rec->kind == CU_REC_RETENTION || gap_wanted(rec, from_us, to_us);
}

int
cu_pkg_records_keep(struct cu_pkg_records *k, const struct cu_record *rec, int64_t from_us,
                    int64_t to_us)
{
	if (gap_wanted(rec, from_us, to_us)) {
		struct cu_verify_gap *g = realloc(k->gaps, (k->ngaps + 1) * sizeof(*g));
		if (g == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		k->gaps = g;
		g = &k->gaps[k->ngaps++];
		g->kind = rec->kind;
		g->from_us = rec->from_us;
		g->to_us = rec->to_us;
		memcpy(g->reason, rec->reason, sizeof(g->reason));
	}
	if (rec->kind == CU_REC_RETENTION) {
		struct cu_pkg_hole_rec *h = realloc(k->rets, (k->nrets + 1) * sizeof(*h));
		if (h == NULL)
			return cu_fail(CU_ERR_NOMEM, "out of memory");
		k->rets = h;
		h = &k->rets[k->nrets++];
		h->aux1 = rec->aux1;
		h->aux2 = rec->aux2;
		memcpy(h->hash, rec->hash, CU_SHA256_LEN);
	}
	return 0;
}

void
cu_pkg_records_free(struct cu_pkg_records *k)
{
	free(k->gaps);
	free(k->rets);
	memset(k, 0, sizeof(*k));
}

bool
cu_pkg_hole_named(const struct cu_pkg_records *k, uint64_t before_seq, uint64_t after_seq,
                  const uint8_t prev_chain[static CU_SHA256_LEN])
{
	for (size_t i = 0; i < k->nrets; i++)
		if (k->rets[i].aux2 == after_seq && k->rets[i].aux1 <= before_seq + 1 &&
		    cu_ct_equal(k->rets[i].hash, prev_chain, CU_SHA256_LEN))
			return true;
	return false;
}

void
cu_pkg_head_message(uint64_t size, int64_t time_us, const uint8_t root[static CU_SHA256_LEN],
                    const uint8_t chain[static CU_SHA256_LEN], const uint8_t store_id[static 16],
                    uint8_t out[static CU_PKG_HEAD_MSG_LEN])
{
	memcpy(out, "custody/v1/tree-head", 21); /* with its NUL */
	cu_put_u64(out + 21, size);
	cu_put_u64(out + 29, (uint64_t)time_us);
	memcpy(out + 37, root, CU_SHA256_LEN);
	memcpy(out + 37 + CU_SHA256_LEN, chain, CU_SHA256_LEN);
	memcpy(out + 37 + 2 * CU_SHA256_LEN, store_id, 16);
}

/* ---- writing ---- */

static json_t *
jtime(int64_t us)
{
	char buf[CU_TIME_ISO_MAX];
	return cu_time_text(us, buf) ? json_string(buf) : NULL;
}

static json_t *
jhex(const uint8_t *p, size_t n)
{
	char buf[2 * 64 + 1];
	if (n > 64)
		return NULL;
	cu_hex(p, n, buf);
	return json_string(buf);
}

static json_t *
jcert(const struct cu_pkg_cert_ref *c)
{
	return json_pack("{s:s, s:o}", "subject", c->subject, "sha256",
	                 jhex(c->sha256, CU_SHA256_LEN));
}

static json_t *
jcamera(const struct cu_pkg_cam *c)
{
	json_t *segs = json_array(), *gaps = json_array();
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:I, s:o, s:o}", "name", c->name, "id",
	                      jhex(c->id, 16), "from", jtime(c->from_us), "to", jtime(c->to_us),
	                      "frames", (json_int_t)c->frames, "segments", segs, "gaps", gaps);
	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct cu_pkg_seg *g = &c->segs[i];
		json_t *e = json_pack("{s:s, s:I, s:o, s:o, s:I, s:I, s:I, s:o, s:o}", "file", g->file,
		                      "seq", (json_int_t)g->seq, "from", jtime(g->from_us), "to",
		                      jtime(g->to_us), "frames", (json_int_t)g->frames, "bytes",
		                      (json_int_t)g->bytes, "first_entry", (json_int_t)g->first_entry,
		                      "chain", jhex(g->chain, CU_SHA256_LEN), "last_seal",
		                      jhex(g->last_seal, CU_SHA256_LEN));
		if (e == NULL || json_array_append_new(segs, e) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	for (size_t i = 0; i < c->ngaps; i++) {
		const struct cu_verify_gap *g = &c->gaps[i];
		json_t *e = json_pack("{s:s, s:o, s:o, s:s}", "kind", cu_record_kind_name(g->kind),
		                      "from", jtime(g->from_us), "to", jtime(g->to_us), "reason",
		                      g->reason);
		if (e == NULL || json_array_append_new(gaps, e) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int
cu_pkg_manifest_encode(const struct cu_pkg_manifest *m, char **ret, size_t *ret_len)
{
	json_t *cams = json_array(), *files = json_array(), *audit;
	if (m->has_audit)
		audit = json_pack("{s:I, s:{s:I, s:o, s:o, s:o, s:o}}", "index",
		                  (json_int_t)m->audit_index, "head", "size", (json_int_t)m->audit_size,
		                  "time", jtime(m->audit_time_us), "root",
		                  jhex(m->audit_root, CU_SHA256_LEN), "chain",
		                  jhex(m->audit_chain, CU_SHA256_LEN), "signature",
		                  jhex(m->audit_sig, CU_ED25519_SIG_LEN));
	else
		audit = json_null();
	json_t *root = json_pack(
		"{s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, "
		"s:{s:s, s:b, s:b, s:b}, s:o, s:o, s:o}",
		"format", "custody-evidence-package", "version", CU_PKG_VERSION, "case", m->case_ref,
		"comments", m->comments ? m->comments : "", "exporter", m->exporter, "exported",
		jtime(m->exported_us), "server", jcert(&m->server), "recorder", jcert(&m->recorder),
		"site_ca", jcert(&m->site_ca), "store", jhex(m->store_id, 16), "profile", "name",
		m->profile, "encrypted", m->encrypted, "prevent_reexport", m->prevent_reexport,
		"signed", 1, "cameras", cams, "files", files, "audit", audit);
	char *text = NULL;
	int r = 0;
	if (root == NULL) {
		r = cu_fail(CU_ERR_INVAL, "the manifest cannot be built (text that is not UTF-8, or "
		            "a time out of range)");
		goto out;
	}
	for (size_t i = 0; i < m->ncams; i++) {
		json_t *c = jcamera(&m->cams[i]);
		if (c == NULL || json_array_append_new(cams, c) < 0) {
			r = cu_fail(CU_ERR_INVAL, "the manifest entry of camera %s cannot be built",
			            m->cams[i].name);
			goto out;
		}
	}
	for (size_t i = 0; i < CU_PKG_FILES; i++) {
		json_t *f = json_pack("{s:s, s:o, s:I}", "name", m->files[i].name, "sha256",
		                      jhex(m->files[i].sha256, CU_SHA256_LEN), "bytes",
		                      (json_int_t)m->files[i].bytes);
		if (f == NULL || json_array_append_new(files, f) < 0) {
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory writing the manifest");
		goto out;
	}
	size_t n = strlen(text);
	if (n > CU_PKG_MANIFEST_MAX) {
		free(text);
		r = cu_fail(CU_ERR_LIMIT, "the manifest would be %zu bytes, more than %d (too many "
		            "segments: export fewer cameras or shorter ranges)", n, CU_PKG_MANIFEST_MAX);
		goto out;
	}
	*ret = text;
	*ret_len = n;
out:
	json_decref(root);
	return r;
}

/* ---- reading ---- */

static int
bad(const char *field, const char *why)
{
	return cu_fail(CU_ERR_FORMAT, "manifest.json: %s %s", field, why);
}

static int
get_str(json_t *o, const char *k, size_t max, char *out, const char *field)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		return bad(field, "is missing or not a string");
	size_t n = json_string_length(v);
	if (n > max)
		return bad(field, "is too long");
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	if (strlen(out) != n)
		return bad(field, "holds a NUL character");
	return 0;
}

static int
get_u64(json_t *o, const char *k, uint64_t max, uint64_t *ret, const char *field)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return bad(field, "is missing or not a whole number in range");
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int
get_bool(json_t *o, const char *k, bool *ret, const char *field)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_boolean(v))
		return bad(field, "is missing or not true/false");
	*ret = json_is_true(v);
	return 0;
}

static int
get_time(json_t *o, const char *k, int64_t *ret, const char *field)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v) || cu_time_parse_iso8601(json_string_value(v), ret) < 0)
		return bad(field, "is missing or not an ISO 8601 time");
	return 0;
}

static int
get_hex(json_t *o, const char *k, uint8_t *out, size_t n, const char *field)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v) || json_string_length(v) != 2 * n ||
	    cu_unhex(json_string_value(v), out, n) < 0)
		return bad(field, "is missing or not the right number of hex digits");
	return 0;
}

static int
get_cert(json_t *o, const char *k, struct cu_pkg_cert_ref *ret)
{
	json_t *c = json_object_get(o, k);
	if (!json_is_object(c))
		return bad(k, "is missing or not an object");
	int r = get_str(c, "subject", sizeof(ret->subject) - 1, ret->subject, "subject");
	return r < 0 ? r : get_hex(c, "sha256", ret->sha256, CU_SHA256_LEN, "sha256");
}

static int
kind_parse(const char *s, int *ret)
{
	static const int kinds[] = {CU_REC_GAP, CU_REC_RESTART, CU_REC_RETENTION, CU_REC_EVENT};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(s, cu_record_kind_name(kinds[i])) == 0) {
			*ret = kinds[i];
			return 0;
		}
	}
	return bad("gap kind", "is not gap, restart, retention or event");
}

static int
get_camera(json_t *o, struct cu_pkg_cam *c, size_t *total_segs)
{
	int r;
	char hexid[33];
	if (!json_is_object(o))
		return bad("cameras[]", "is not an object");
	if ((r = get_str(o, "name", CU_CAMERA_NAME_MAX, c->name, "camera name")) < 0)
		return r;
	if (cu_camera_name_check(c->name) < 0)
		return bad("camera name", "is not a valid camera name");
	if ((r = get_str(o, "id", 32, hexid, "camera id")) < 0 || (r = cu_unhex(hexid, c->id, 16)) < 0)
		return bad("camera id", "is not 32 hex digits");
	if ((r = get_time(o, "from", &c->from_us, "camera from")) < 0 ||
	    (r = get_time(o, "to", &c->to_us, "camera to")) < 0 ||
	    (r = get_u64(o, "frames", INT64_MAX, &c->frames, "camera frames")) < 0)
		return r;
	if (c->from_us >= c->to_us || c->to_us - c->from_us > CU_PKG_RANGE_MAX_US)
		return bad("camera range", "is empty or longer than 24 hours");
	json_t *segs = json_object_get(o, "segments"), *gaps = json_object_get(o, "gaps");
	if (!json_is_array(segs) || json_array_size(segs) == 0 ||
	    json_array_size(segs) > CU_PKG_SEGMENTS_MAX - *total_segs)
		return bad("camera segments", "are missing, empty or too many");
	if (!json_is_array(gaps) || json_array_size(gaps) > CU_PKG_GAPS_MAX)
		return bad("camera gaps", "are missing or too many");
	c->segs = calloc(json_array_size(segs), sizeof(*c->segs));
	c->gaps = calloc(json_array_size(gaps) ? json_array_size(gaps) : 1, sizeof(*c->gaps));
	if (c->segs == NULL || c->gaps == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	*total_segs += json_array_size(segs);
	for (size_t i = 0; i < json_array_size(segs); i++) {
		json_t *e = json_array_get(segs, i);
		struct cu_pkg_seg *g = &c->segs[i];
		char want[CU_TAR_NAME_MAX + 1];
		if (!json_is_object(e))
			return bad("segments[]", "is not an object");
		if ((r = get_str(e, "file", CU_TAR_NAME_MAX, g->file, "segment file")) < 0 ||
		    (r = get_u64(e, "seq", INT64_MAX, &g->seq, "segment seq")) < 0 ||
		    (r = get_time(e, "from", &g->from_us, "segment from")) < 0 ||
		    (r = get_time(e, "to", &g->to_us, "segment to")) < 0 ||
		    (r = get_u64(e, "frames", INT64_MAX, &g->frames, "segment frames")) < 0 ||
		    (r = get_u64(e, "bytes", CU_TAR_SIZE_MAX, &g->bytes, "segment bytes")) < 0 ||
		    (r = get_u64(e, "first_entry", INT64_MAX, &g->first_entry,
		                 "segment first_entry")) < 0 ||
		    (r = get_hex(e, "chain", g->chain, CU_SHA256_LEN, "segment chain")) < 0 ||
		    (r = get_hex(e, "last_seal", g->last_seal, CU_SHA256_LEN, "segment last_seal")) < 0)
			return r;
		c->nsegs++;
		if (g->seq == 0 || (i > 0 && g->seq <= c->segs[i - 1].seq))
			return bad("segment seq", "values are not increasing from 1");
		if ((r = cu_pkg_segment_name(c->name, g->seq, want)) < 0 || strcmp(want, g->file) != 0)
			return bad("segment file", "is not segments/<camera>/<seq>.seg");
	}
	for (size_t i = 0; i < json_array_size(gaps); i++) {
		json_t *e = json_array_get(gaps, i);
		struct cu_verify_gap *g = &c->gaps[i];
		char kind[16];
		if (!json_is_object(e))
			return bad("gaps[]", "is not an object");
		if ((r = get_str(e, "kind", sizeof(kind) - 1, kind, "gap kind")) < 0 ||
		    (r = kind_parse(kind, &g->kind)) < 0 ||
		    (r = get_time(e, "from", &g->from_us, "gap from")) < 0 ||
		    (r = get_time(e, "to", &g->to_us, "gap to")) < 0 ||
		    (r = get_str(e, "reason", CU_REASON_MAX, g->reason, "gap reason")) < 0)
			return r;
		c->ngaps++;
	}
	return 0;
}

/* The format and version, the comments, the export's identity fields. */
static int
decode_head(json_t *root, struct cu_pkg_manifest *m)
{
	char fmt[32];
	uint64_t version = 0;
	int r;
	if (!json_is_object(root))
		return bad("the top level", "is not an object");
	if ((r = get_str(root, "format", sizeof(fmt) - 1, fmt, "format")) < 0)
		return r;
	if (strcmp(fmt, "custody-evidence-package") != 0)
		return bad("format", "is not custody-evidence-package");
	if ((r = get_u64(root, "version", UINT16_MAX, &version, "version")) < 0)
		return r;
	if (version != CU_PKG_VERSION)
		return cu_fail(CU_ERR_FORMAT, "manifest.json: version %llu (this custody reads %d)",
		               (unsigned long long)version, CU_PKG_VERSION);
	json_t *comments = json_object_get(root, "comments");
	if (!json_is_string(comments) || json_string_length(comments) > CU_PKG_COMMENTS_MAX ||
	    strlen(json_string_value(comments)) != json_string_length(comments))
		return bad("comments", "is missing, not a string or too long");
	if ((m->comments = strdup(json_string_value(comments))) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	if ((r = get_str(root, "case", CU_PKG_CASE_MAX, m->case_ref, "case")) < 0 ||
	    (r = get_str(root, "exporter", CU_PKG_EXPORTER_MAX, m->exporter, "exporter")) < 0 ||
	    (r = get_time(root, "exported", &m->exported_us, "exported")) < 0 ||
	    (r = get_cert(root, "server", &m->server)) < 0 ||
	    (r = get_cert(root, "recorder", &m->recorder)) < 0 ||
	    (r = get_cert(root, "site_ca", &m->site_ca)) < 0 ||
	    (r = get_hex(root, "store", m->store_id, 16, "store")) < 0)
		return r;
	json_t *profile = json_object_get(root, "profile");
	if (!json_is_object(profile))
		return bad("profile", "is missing or not an object");
	if ((r = get_str(profile, "name", CU_PKG_PROFILE_NAME_MAX, m->profile, "profile name")) < 0 ||
	    (r = get_bool(profile, "encrypted", &m->encrypted, "profile encrypted")) < 0 ||
	    (r = get_bool(profile, "prevent_reexport", &m->prevent_reexport,
	                  "profile prevent_reexport")) < 0 ||
	    (r = get_bool(profile, "signed", &m->is_signed, "profile signed")) < 0)
		return r;
	return 0;
}

/* The cameras: 1 to CU_PKG_CAMERAS_MAX, each named once. */
static int
decode_cameras(json_t *root, struct cu_pkg_manifest *m)
{
	size_t total_segs = 0;
	json_t *cams = json_object_get(root, "cameras");
	if (!json_is_array(cams) || json_array_size(cams) == 0 ||
	    json_array_size(cams) > CU_PKG_CAMERAS_MAX)
		return bad("cameras", "is missing, empty or has more than 64 cameras");
	if ((m->cams = calloc(json_array_size(cams), sizeof(*m->cams))) == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < json_array_size(cams); i++) {
		m->ncams++;
		int r = get_camera(json_array_get(cams, i), &m->cams[i], &total_segs);
		if (r < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (strcmp(m->cams[k].name, m->cams[i].name) == 0)
				return bad("cameras", "names a camera twice");
	}
	return 0;
}

/* The three certificate files, in their order. */
static int
decode_files(json_t *root, struct cu_pkg_manifest *m)
{
	json_t *files = json_object_get(root, "files");
	if (!json_is_array(files) || json_array_size(files) != CU_PKG_FILES)
		return bad("files", "is missing or does not list the three certificates");
	for (size_t i = 0; i < CU_PKG_FILES; i++) {
		json_t *f = json_array_get(files, i);
		struct cu_pkg_file *pf = &m->files[i];
		int r;
		if (!json_is_object(f))
			return bad("files[]", "is not an object");
		if ((r = get_str(f, "name", CU_TAR_NAME_MAX, pf->name, "file name")) < 0 ||
		    (r = get_u64(f, "bytes", CU_X509_PEM_MAX, &pf->bytes, "file bytes")) < 0 ||
		    (r = get_hex(f, "sha256", pf->sha256, CU_SHA256_LEN, "file sha256")) < 0)
			return r;
		if (strcmp(pf->name, cu_pkg_file_names[i]) != 0)
			return bad("files", "are not certs/site-ca.pem, certs/recorder.pem, "
			           "certs/exporter.pem in this order");
	}
	return 0;
}

/* The audit entry and its signed tree head, or null. */
static int
decode_audit(json_t *root, struct cu_pkg_manifest *m)
{
	json_t *audit = json_object_get(root, "audit");
	if (json_is_null(audit))
		return 0;
	if (!json_is_object(audit))
		return bad("audit", "is missing or neither an object nor null");
	json_t *head = json_object_get(audit, "head");
	uint64_t idx = 0, t = 0;
	int r;
	if (!json_is_object(head))
		return bad("audit head", "is missing or not an object");
	if ((r = get_u64(audit, "index", INT64_MAX, &idx, "audit index")) < 0 ||
	    (r = get_u64(head, "size", INT64_MAX, &t, "audit head size")) < 0 ||
	    (r = get_time(head, "time", &m->audit_time_us, "audit head time")) < 0 ||
	    (r = get_hex(head, "root", m->audit_root, CU_SHA256_LEN, "audit head root")) < 0 ||
	    (r = get_hex(head, "chain", m->audit_chain, CU_SHA256_LEN, "audit head chain")) < 0 ||
	    (r = get_hex(head, "signature", m->audit_sig, CU_ED25519_SIG_LEN,
	                 "audit head signature")) < 0)
		return r;
	m->has_audit = true;
	m->audit_index = (int64_t)idx;
	m->audit_size = t;
	return 0;
}

int
cu_pkg_manifest_decode(const uint8_t *data, size_t len, struct cu_pkg_manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->audit_index = -1;
	json_error_t jerr;
	json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return cu_fail(CU_ERR_FORMAT, "manifest.json is not valid JSON: %s (byte %d)",
		               jerr.text, jerr.position);
	int r;
	if ((r = decode_head(root, m)) == 0 && (r = decode_cameras(root, m)) == 0 &&
	    (r = decode_files(root, m)) == 0)
		r = decode_audit(root, m);
	json_decref(root);
	return r;
}

void
cu_pkg_manifest_free(struct cu_pkg_manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->ncams; i++) {
		free(m->cams[i].segs);
		free(m->cams[i].gaps);
	}
	free(m->cams);
	free(m->comments);
	memset(m, 0, sizeof(*m));
}
