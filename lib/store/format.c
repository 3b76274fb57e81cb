/* Segment file layout: encode and decode. See docs/formats/media-database.md. */
#include <string.h>

#include "custody/store.h"
#include "store/format.h"
#include "custody/error.h"
#include "custody/parse.h"
#include "custody/text.h"

static const uint8_t seg_domain[] = "custody/v1/segment"; /* hashed with its NUL */
static const uint8_t seal_domain[16] = "custody/v1/seal"; /* 15 chars + NUL */

void
cu_seg_header_encode(const struct cu_seg_header *h, uint8_t out[static CU_SEG_HEADER_LEN])
{
	memset(out, 0, CU_SEG_HEADER_LEN);
	memcpy(out, CU_SEG_MAGIC, 8);
	cu_put_u16(out + 8, h->version);
	cu_put_u16(out + 10, CU_SEG_HEADER_LEN);
	out[12] = h->encryption;
	out[13] = h->hash_alg;
	out[14] = h->sig_alg;
	memcpy(out + 16, h->key_salt, 32);
	memcpy(out + 48, h->store_id, CU_ID_LEN);
	memcpy(out + 64, h->camera_id, CU_ID_LEN);
	cu_put_u64(out + 80, h->seq);
	cu_put_u64(out + 88, (uint64_t)h->created_us);
	cu_put_u64(out + 96, h->first_entry);
	memcpy(out + 104, h->prev_chain, CU_SHA256_LEN);
}

int
cu_seg_header_decode(const uint8_t *in, size_t len, struct cu_seg_header *ret)
{
	if (len < CU_SEG_HEADER_LEN)
		return cu_fail(CU_ERR_FORMAT, "segment header is %zu bytes, expected %d", len,
		               CU_SEG_HEADER_LEN);
	if (memcmp(in, CU_SEG_MAGIC, 8) != 0)
		return cu_fail(CU_ERR_FORMAT, "not a custody segment (bad magic)");
	struct cu_seg_header h;
	h.version = cu_get_u16(in + 8);
	if (h.version != CU_SEG_VERSION)
		return cu_fail(CU_ERR_UNSUPPORTED, "segment format version %u (this custody reads %d)",
		               h.version, CU_SEG_VERSION);
	if (cu_get_u16(in + 10) != CU_SEG_HEADER_LEN)
		return cu_fail(CU_ERR_FORMAT, "segment header length %u, expected %d",
		               cu_get_u16(in + 10), CU_SEG_HEADER_LEN);
	h.encryption = in[12];
	h.hash_alg = in[13];
	h.sig_alg = in[14];
	if (h.encryption > CU_ENC_STRONG)
		return cu_fail(CU_ERR_FORMAT, "segment encryption mode %u unknown", h.encryption);
	if (h.hash_alg != CU_HASH_SHA256 || h.sig_alg != CU_SIG_ED25519)
		return cu_fail(CU_ERR_UNSUPPORTED, "segment hash/signature algorithm %u/%u unknown",
		               h.hash_alg, h.sig_alg);
	if (in[15] != 0 || !cu_all_zero(in + 136, CU_SEG_HEADER_LEN - 136))
		return cu_fail(CU_ERR_FORMAT, "segment header reserved bytes are not zero");
	memcpy(h.key_salt, in + 16, 32);
	memcpy(h.store_id, in + 48, CU_ID_LEN);
	memcpy(h.camera_id, in + 64, CU_ID_LEN);
	h.seq = cu_get_u64(in + 80);
	h.created_us = (int64_t)cu_get_u64(in + 88);
	h.first_entry = cu_get_u64(in + 96);
	memcpy(h.prev_chain, in + 104, CU_SHA256_LEN);
	if (h.seq == 0 || h.first_entry == 0 || h.created_us < 0)
		return cu_fail(CU_ERR_FORMAT, "segment header has a zero sequence or negative time");
	*ret = h;
	return 0;
}

void
cu_entry_header_encode(const struct cu_entry_header *h, uint8_t out[static CU_ENTRY_HEADER_LEN])
{
	memcpy(out, CU_ENTRY_MAGIC, 4);
	out[4] = h->type;
	out[5] = h->codec;
	out[6] = h->track;
	out[7] = h->flags;
	cu_put_u64(out + 8, h->seq);
	cu_put_u64(out + 16, (uint64_t)h->ts_us);
	cu_put_u32(out + 24, h->dur_us);
	cu_put_u32(out + 28, h->plain_len);
	cu_put_u32(out + 32, h->stored_len);
	cu_put_u32(out + 36, 0);
}

int
cu_entry_header_decode(const uint8_t *in, size_t len, struct cu_entry_header *ret)
{
	if (len < CU_ENTRY_HEADER_LEN)
		return cu_fail(CU_ERR_FORMAT, "entry header cut short (%zu of %d bytes)", len,
		               CU_ENTRY_HEADER_LEN);
	if (memcmp(in, CU_ENTRY_MAGIC, 4) != 0)
		return cu_fail(CU_ERR_FORMAT, "entry does not start with \"CUEN\"");
	struct cu_entry_header h = {
		.type = in[4], .codec = in[5], .track = in[6], .flags = in[7],
		.seq = cu_get_u64(in + 8), .ts_us = (int64_t)cu_get_u64(in + 16),
		.dur_us = cu_get_u32(in + 24), .plain_len = cu_get_u32(in + 28),
		.stored_len = cu_get_u32(in + 32),
	};
	if (cu_get_u32(in + 36) != 0)
		return cu_fail(CU_ERR_FORMAT, "entry header reserved bytes are not zero");
	if (h.seq == 0 || h.ts_us < 0)
		return cu_fail(CU_ERR_FORMAT, "entry has number 0 or a negative time");
	switch (h.type) {
	case CU_ENTRY_FRAME:
		if (h.codec < CU_CODEC_H264 || h.codec > CU_CODEC_AAC || h.track > CU_TRACK_AUDIO ||
		    (h.flags & ~CU_ENTRY_FLAG_KEY) != 0)
			return cu_fail(CU_ERR_FORMAT, "frame entry %llu has unknown codec/track/flags",
			               (unsigned long long)h.seq);
		if (h.plain_len == 0 || h.plain_len > CU_FRAME_MAX || h.dur_us > CU_FRAME_DURATION_MAX)
			return cu_fail(CU_ERR_FORMAT, "frame entry %llu has size %u or duration %u "
			               "out of range", (unsigned long long)h.seq, h.plain_len, h.dur_us);
		if (h.stored_len > CU_ENTRY_BODY_MAX)
			return cu_fail(CU_ERR_FORMAT, "frame entry %llu stored size %u too large",
			               (unsigned long long)h.seq, h.stored_len);
		break;
	case CU_ENTRY_SEAL:
		if (h.plain_len != CU_SEAL_BODY_LEN || h.stored_len != CU_SEAL_BODY_LEN ||
		    h.codec || h.track || h.flags || h.dur_us)
			return cu_fail(CU_ERR_FORMAT, "seal entry %llu is malformed",
			               (unsigned long long)h.seq);
		break;
	case CU_ENTRY_RECORD:
		if (h.plain_len < CU_RECORD_FIXED_LEN || h.plain_len > CU_RECORD_MAX ||
		    h.stored_len != h.plain_len || h.codec || h.track || h.flags || h.dur_us)
			return cu_fail(CU_ERR_FORMAT, "record entry %llu is malformed",
			               (unsigned long long)h.seq);
		break;
	default:
		return cu_fail(CU_ERR_FORMAT, "entry %llu has unknown type %u",
		               (unsigned long long)h.seq, h.type);
	}
	*ret = h;
	return 0;
}

uint32_t
cu_frame_stored_len(int encryption, uint32_t plain_len)
{
	return encryption == CU_ENC_NONE ? plain_len : plain_len + CU_GCM_TAG_LEN;
}

void
cu_seal_encode(const struct cu_seal *s, uint8_t out[static CU_SEAL_BODY_LEN])
{
	memset(out, 0, CU_SEAL_BODY_LEN);
	out[0] = s->sig_alg;
	cu_put_u64(out + 8, s->first_covered);
	memcpy(out + 16, s->chain, CU_SHA256_LEN);
	memcpy(out + 48, s->prev_seal, CU_SHA256_LEN);
	memcpy(out + 80, s->key_id, CU_SHA256_LEN);
	memcpy(out + 112, s->sig, CU_ED25519_SIG_LEN);
}

int
cu_seal_decode(const uint8_t *in, size_t len, struct cu_seal *ret)
{
	if (len != CU_SEAL_BODY_LEN)
		return cu_fail(CU_ERR_FORMAT, "seal body is %zu bytes, expected %d", len,
		               CU_SEAL_BODY_LEN);
	if (in[0] != CU_SIG_ED25519)
		return cu_fail(CU_ERR_UNSUPPORTED, "seal signature algorithm %u unknown", in[0]);
	if (!cu_all_zero(in + 1, 7))
		return cu_fail(CU_ERR_FORMAT, "seal reserved bytes are not zero");
	struct cu_seal s;
	s.sig_alg = in[0];
	s.first_covered = cu_get_u64(in + 8);
	memcpy(s.chain, in + 16, CU_SHA256_LEN);
	memcpy(s.prev_seal, in + 48, CU_SHA256_LEN);
	memcpy(s.key_id, in + 80, CU_SHA256_LEN);
	memcpy(s.sig, in + 112, CU_ED25519_SIG_LEN);
	*ret = s;
	return 0;
}

void
cu_seal_message(const uint8_t store_id[static CU_ID_LEN], const uint8_t camera_id[static CU_ID_LEN],
                uint64_t seg_seq, const uint8_t entry_header[static CU_ENTRY_HEADER_LEN],
                const uint8_t body[static CU_SEAL_BODY_LEN], uint8_t out[static CU_SEAL_MSG_LEN])
{
	uint8_t *p = out;
	memcpy(p, seal_domain, 16);
	p += 16;
	memcpy(p, store_id, CU_ID_LEN);
	p += CU_ID_LEN;
	memcpy(p, camera_id, CU_ID_LEN);
	p += CU_ID_LEN;
	cu_put_u64(p, seg_seq);
	p += 8;
	memcpy(p, entry_header, CU_ENTRY_CANON_LEN);
	p += CU_ENTRY_CANON_LEN;
	memcpy(p, body, CU_SEAL_SIGNED_OFF);
}

size_t
cu_record_encode(const struct cu_record *r, uint8_t out[static CU_RECORD_MAX])
{
	size_t rlen = strnlen(r->reason, CU_REASON_MAX);
	memset(out, 0, CU_RECORD_FIXED_LEN);
	cu_put_u16(out, r->kind);
	cu_put_u16(out + 2, (uint16_t)rlen);
	cu_put_u64(out + 8, (uint64_t)r->from_us);
	cu_put_u64(out + 16, (uint64_t)r->to_us);
	cu_put_u64(out + 24, r->aux1);
	cu_put_u64(out + 32, r->aux2);
	memcpy(out + 40, r->hash, CU_SHA256_LEN);
	memcpy(out + CU_RECORD_FIXED_LEN, r->reason, rlen);
	return CU_RECORD_FIXED_LEN + rlen;
}

int
cu_record_decode(const uint8_t *in, size_t len, struct cu_record *ret)
{
	if (len < CU_RECORD_FIXED_LEN || len > CU_RECORD_MAX)
		return cu_fail(CU_ERR_FORMAT, "record body is %zu bytes", len);
	uint16_t kind = cu_get_u16(in);
	uint16_t rlen = cu_get_u16(in + 2);
	if (kind < CU_REC_START || kind > CU_REC_KIND_LAST)
		return cu_fail(CU_ERR_FORMAT, "record kind %u unknown", kind);
	if (rlen > CU_REASON_MAX || len != CU_RECORD_FIXED_LEN + (size_t)rlen)
		return cu_fail(CU_ERR_FORMAT, "record reason length %u does not fit the body", rlen);
	if (!cu_all_zero(in + 4, 4))
		return cu_fail(CU_ERR_FORMAT, "record reserved bytes are not zero");
	if (memchr(in + CU_RECORD_FIXED_LEN, '\0', rlen) != NULL)
		return cu_fail(CU_ERR_FORMAT, "record reason contains a NUL byte");
	ret->kind = kind;
	ret->from_us = (int64_t)cu_get_u64(in + 8);
	ret->to_us = (int64_t)cu_get_u64(in + 16);
	ret->aux1 = cu_get_u64(in + 24);
	ret->aux2 = cu_get_u64(in + 32);
	memcpy(ret->hash, in + 40, CU_SHA256_LEN);
	memcpy(ret->reason, in + CU_RECORD_FIXED_LEN, rlen);
	ret->reason[rlen] = '\0';
	if (kind == CU_REC_EVENT) {
		/* one moment, nothing in aux or hash, and its fields by their rules */
		if (ret->from_us < 0 || ret->to_us != ret->from_us || ret->aux1 != 0 ||
		    ret->aux2 != 0 || !cu_all_zero(ret->hash, CU_SHA256_LEN))
			return cu_fail(CU_ERR_FORMAT, "event record: from must equal to, aux and hash "
			               "must be zero");
		return cu_event_text_parse(ret->reason, rlen, NULL);
	}
	return 0;
}

static const char *const phase_names[] = {"?", "once", "raise", "clear"};
static const char *const severity_names[] = {"?", "info", "warning", "major", "critical"};

const char *
cu_event_phase_name(int phase)
{
	return phase >= CU_EVENT_ONCE && phase <= CU_EVENT_CLEAR ? phase_names[phase] : "?";
}

const char *
cu_event_severity_name(int severity)
{
	return severity >= CU_EVENT_INFO && severity <= CU_EVENT_CRITICAL ? severity_names[severity]
	                                                                   : "?";
}

/* The next LF-terminated field of text, [*at, LF): its length, or -1 when
 * there is no LF. */
static int
next_field(const char *text, size_t len, size_t *at, const char **ret)
{
	const char *p = text + *at, *lf = memchr(p, '\n', len - *at);
	if (lf == NULL)
		return -1;
	*ret = p;
	*at += (size_t)(lf - p) + 1;
	return (int)(lf - p);
}

static bool
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool
is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

/* A name: 1..max bytes of [a-z0-9], [A-Z] when upper, and the extra
 * characters; a letter first. */
static bool
name_ok(const char *p, int n, size_t max, bool upper, const char *extra)
{
	if (n < 1 || (size_t)n > max || !(is_lower(p[0]) || (upper && is_upper(p[0]))))
		return false;
	for (int i = 0; i < n; i++)
		if (p[i] == '\0' || !(is_lower(p[i]) || (upper && is_upper(p[i])) ||
		                      (p[i] >= '0' && p[i] <= '9') || strchr(extra, p[i]) != NULL))
			return false;
	return true;
}

static int
word_index(const char *p, int n, const char *const *words, int nwords)
{
	for (int i = 1; i < nwords; i++)
		if ((size_t)n == strlen(words[i]) && memcmp(p, words[i], (size_t)n) == 0)
			return i;
	return 0;
}

int
cu_event_text_parse(const char *text, size_t len, struct cu_event_note *ret)
{
	size_t at = 0;
	const char *f[4];
	int n[4];
	for (int i = 0; i < 4; i++)
		if ((n[i] = next_field(text, len, &at, &f[i])) < 0)
			return cu_fail(CU_ERR_FORMAT, "event record text has %d of its 5 lines", i + 1);
	if (!name_ok(f[0], n[0], CU_EVENT_TYPE_MAX, true, "._/-"))
		return cu_fail(CU_ERR_FORMAT, "event record type is not 1-%d bytes of "
		               "[A-Za-z0-9._/-]", CU_EVENT_TYPE_MAX);
	int phase = word_index(f[1], n[1], phase_names, 4);
	if (phase == 0)
		return cu_fail(CU_ERR_FORMAT, "event record phase is not once, raise or clear");
	if (!name_ok(f[2], n[2], CU_EVENT_SOURCE_MAX, false, "_-"))
		return cu_fail(CU_ERR_FORMAT, "event record source is not 1-%d bytes of [a-z0-9_-]",
		               CU_EVENT_SOURCE_MAX);
	int sev = word_index(f[3], n[3], severity_names, 5);
	if (sev == 0)
		return cu_fail(CU_ERR_FORMAT, "event record severity is not info, warning, major or "
		               "critical");
	size_t dn = len - at;
	if (cu_text_check(text + at, dn, CU_EVENT_DETAIL_MAX, 0) < 0)
		return cu_fail_prefix(CU_ERR_FORMAT, "event record detail");
	if (ret != NULL) {
		memcpy(ret->type, f[0], (size_t)n[0]);
		ret->type[n[0]] = '\0';
		ret->phase = phase;
		memcpy(ret->source, f[2], (size_t)n[2]);
		ret->source[n[2]] = '\0';
		ret->severity = sev;
		memcpy(ret->detail, text + at, dn);
		ret->detail[dn] = '\0';
	}
	return 0;
}

const char *
cu_record_kind_name(int kind)
{
	switch (kind) {
	case CU_REC_START: return "start";
	case CU_REC_STOP: return "stop";
	case CU_REC_GAP: return "gap";
	case CU_REC_RESTART: return "restart";
	case CU_REC_RETENTION: return "retention";
	case CU_REC_EVENT: return "event";
	}
	return "unknown";
}

int
cu_chain_init(const uint8_t header[static CU_SEG_HEADER_LEN], uint8_t out[static CU_SHA256_LEN])
{
	uint8_t buf[sizeof(seg_domain) + CU_SEG_CANON_LEN];
	memcpy(buf, seg_domain, sizeof(seg_domain));
	memcpy(buf + sizeof(seg_domain), header + CU_SEG_CANON_OFF, CU_SEG_CANON_LEN);
	return cu_sha256(buf, sizeof(buf), out);
}
