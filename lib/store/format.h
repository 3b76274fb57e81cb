/* Private: the byte layout of segment files (docs/formats/media-database.md).
 * Pure encode/decode functions: no I/O, no keys, so they can be fuzzed. All
 * integers are little-endian. */
#ifndef CU_STORE_FORMAT_H
#define CU_STORE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/crypto.h"
#include "custody/media.h"

#define CU_SEG_MAGIC "CUSTSEG1"
#define CU_SEG_VERSION 1
#define CU_SEG_HEADER_LEN 160
#define CU_SEG_CANON_OFF 48       /* the part of the header the chain covers */
#define CU_SEG_CANON_LEN 88

#define CU_ENTRY_MAGIC "CUEN"
#define CU_ENTRY_HEADER_LEN 40
#define CU_ENTRY_CANON_LEN 32     /* the part of an entry header the chain covers */

#define CU_ID_LEN 16              /* store and camera ids */

#define CU_SEAL_BODY_LEN 176
#define CU_SEAL_SIGNED_OFF 112    /* body bytes before the signature */
#define CU_RECORD_FIXED_LEN 72
#define CU_REASON_MAX 512
#define CU_RECORD_MAX (CU_RECORD_FIXED_LEN + CU_REASON_MAX)

#define CU_LIGHT_BYTES 1000       /* bytes of each frame encrypted in light mode */
#define CU_ENTRY_BODY_MAX (CU_FRAME_MAX + CU_GCM_TAG_LEN)

#define CU_HASH_SHA256 1
#define CU_SIG_ED25519 1

enum cu_entry_type {
	CU_ENTRY_FRAME = 1,
	CU_ENTRY_SEAL = 2,
	CU_ENTRY_RECORD = 3,
};

#define CU_ENTRY_FLAG_KEY 0x01

enum cu_record_kind {
	CU_REC_START = 1,     /* recording started; reason = camera name */
	CU_REC_STOP = 2,      /* recording stopped cleanly */
	CU_REC_GAP = 3,       /* no frames from..to; reason says why */
	CU_REC_RESTART = 4,   /* restarted after an unclean stop; aux1 = bytes discarded */
	CU_REC_RETENTION = 5, /* segments aux1..aux2-1 deleted; hash = aux2's prev chain */
	CU_REC_EVENT = 6,     /* an event about the footage (tamper.*, onvif.*): from = to =
	                         its time; reason = its fields (cu_event_text_check) */
};
#define CU_REC_KIND_LAST CU_REC_EVENT

struct cu_seg_header {
	uint16_t version;
	uint8_t encryption;              /* enum cu_encryption */
	uint8_t hash_alg, sig_alg;
	uint8_t key_salt[32];
	uint8_t store_id[CU_ID_LEN];
	uint8_t camera_id[CU_ID_LEN];
	uint64_t seq;                    /* segment number, from 1 */
	int64_t created_us;
	uint64_t first_entry;            /* entry number of the first entry */
	uint8_t prev_chain[CU_SHA256_LEN];
};

struct cu_entry_header {
	uint8_t type;                    /* enum cu_entry_type */
	uint8_t codec;                   /* enum cu_codec, frames only */
	uint8_t track;
	uint8_t flags;                   /* CU_ENTRY_FLAG_KEY */
	uint64_t seq;                    /* entry number, per camera, from 1 */
	int64_t ts_us;
	uint32_t dur_us;
	uint32_t plain_len;              /* bytes of plaintext body */
	uint32_t stored_len;             /* bytes that follow the header on disk */
};

struct cu_seal {
	uint8_t sig_alg;
	uint64_t first_covered;          /* first entry number this seal covers */
	uint8_t chain[CU_SHA256_LEN];    /* chain value after the last covered entry */
	uint8_t prev_seal[CU_SHA256_LEN];/* SHA-256 of the previous seal body */
	uint8_t key_id[CU_SHA256_LEN];   /* SHA-256 of the signer's certificate (DER) */
	uint8_t sig[CU_ED25519_SIG_LEN];
};

struct cu_record {
	uint16_t kind;                   /* enum cu_record_kind */
	int64_t from_us, to_us;
	uint64_t aux1, aux2;
	uint8_t hash[CU_SHA256_LEN];
	char reason[CU_REASON_MAX + 1];  /* UTF-8, NUL-terminated here, not on disk */
};

void cu_seg_header_encode(const struct cu_seg_header *h, uint8_t out[static CU_SEG_HEADER_LEN]);
/* Checks magic, version, lengths, algorithms, reserved bytes. CU_ERR_FORMAT
 * or CU_ERR_UNSUPPORTED with a detail. */
int cu_seg_header_decode(const uint8_t *in, size_t len, struct cu_seg_header *ret);

void cu_entry_header_encode(const struct cu_entry_header *h,
                            uint8_t out[static CU_ENTRY_HEADER_LEN]);
int cu_entry_header_decode(const uint8_t *in, size_t len, struct cu_entry_header *ret);

/* The stored length of a frame body of plain_len bytes in this mode. */
uint32_t cu_frame_stored_len(int encryption, uint32_t plain_len);

void cu_seal_encode(const struct cu_seal *s, uint8_t out[static CU_SEAL_BODY_LEN]);
int cu_seal_decode(const uint8_t *in, size_t len, struct cu_seal *ret);

/* The message a seal signs: "custody/v1/seal" NUL, store id, camera id,
 * segment seq, the seal entry's canonical header, the body before the
 * signature. Returns its length (fixed). */
#define CU_SEAL_MSG_LEN (16 + CU_ID_LEN * 2 + 8 + CU_ENTRY_CANON_LEN + CU_SEAL_SIGNED_OFF)
void cu_seal_message(const uint8_t store_id[static CU_ID_LEN],
                     const uint8_t camera_id[static CU_ID_LEN], uint64_t seg_seq,
                     const uint8_t entry_header[static CU_ENTRY_HEADER_LEN],
                     const uint8_t body[static CU_SEAL_BODY_LEN],
                     uint8_t out[static CU_SEAL_MSG_LEN]);

/* Returns the body length written (CU_RECORD_FIXED_LEN + reason bytes). */
size_t cu_record_encode(const struct cu_record *r, uint8_t out[static CU_RECORD_MAX]);
int cu_record_decode(const uint8_t *in, size_t len, struct cu_record *ret);

const char *cu_record_kind_name(int kind);

/* The reason text of an EVENT record: "TYPE\nPHASE\nSOURCE\nSEVERITY\nDETAIL"
 * (docs/formats/media-database.md, "Event records"). Parses text (len bytes,
 * no NUL) into ret (which may be NULL: a check only); CU_ERR_FORMAT with a
 * detail naming the field at fault. */
struct cu_event_note;
int cu_event_text_parse(const char *text, size_t len, struct cu_event_note *ret);

/* Chain steps. chain_init: SHA-256("custody/v1/segment" NUL || canonical header).
 * chain_entry: SHA-256(prev || canonical entry header || plaintext body). */
int cu_chain_init(const uint8_t header[static CU_SEG_HEADER_LEN],
                  uint8_t out[static CU_SHA256_LEN]);

/* Little-endian helpers. */
static inline void
cu_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void
cu_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void
cu_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t
cu_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t
cu_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t
cu_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#endif
