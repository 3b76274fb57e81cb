/* Fuzz target: segment files (lib/store/format.c decoders and
 * cu_segment_scan in lib/store/verify.c), the bytes a verifier reads from a
 * store it does not trust.
 *
 * Input: 32-byte Ed25519 public key || 32-byte key id (SHA-256 of the
 * signer's certificate) || segment file. With the key and key id of a real
 * store, an untouched segment of that store scans to the end, so the fuzzer
 * starts from valid chains and seals and mutates inward. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store/format.h"
#include "store/store_int.h"

#define PREFIX_LEN (CU_ED25519_KEY_LEN + CU_SHA256_LEN)
#define DECODE_SPAN 4096 /* bytes of the segment fed to the pure decoders */
#define DECODE_STEP 8

/* Each decoder gets an exactly sized copy so ASan catches reads past len. */
static uint8_t *
slice(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	if (c == NULL)
		abort();
	memcpy(c, p, n);
	return c;
}

/* Decode, re-encode and compare: every decoder checks all reserved bytes, so
 * what it accepts must encode back to the same bytes. */
static void
decode_at(const uint8_t *p, size_t avail)
{
	size_t n = avail < CU_SEG_HEADER_LEN ? avail : CU_SEG_HEADER_LEN;
	uint8_t *c = slice(p, n);
	struct cu_seg_header sh;
	if (cu_seg_header_decode(c, n, &sh) == 0) {
		uint8_t out[CU_SEG_HEADER_LEN];
		cu_seg_header_encode(&sh, out);
		if (memcmp(out, c, CU_SEG_HEADER_LEN) != 0)
			abort();
	}
	free(c);

	n = avail < CU_ENTRY_HEADER_LEN ? avail : CU_ENTRY_HEADER_LEN;
	c = slice(p, n);
	struct cu_entry_header eh;
	if (cu_entry_header_decode(c, n, &eh) == 0) {
		uint8_t out[CU_ENTRY_HEADER_LEN];
		cu_entry_header_encode(&eh, out);
		if (memcmp(out, c, CU_ENTRY_HEADER_LEN) != 0)
			abort();
	}
	free(c);

	n = avail < CU_SEAL_BODY_LEN ? avail : CU_SEAL_BODY_LEN;
	c = slice(p, n);
	struct cu_seal seal;
	if (cu_seal_decode(c, n, &seal) == 0) {
		uint8_t out[CU_SEAL_BODY_LEN];
		cu_seal_encode(&seal, out);
		if (memcmp(out, c, CU_SEAL_BODY_LEN) != 0)
			abort();
	}
	free(c);

	/* a record body's length is in the entry header before it; take the
	 * one its own reason length implies, so that decoding can succeed */
	n = avail < CU_RECORD_MAX ? avail : CU_RECORD_MAX;
	if (avail >= 4 && CU_RECORD_FIXED_LEN + (size_t)cu_get_u16(p + 2) < n)
		n = CU_RECORD_FIXED_LEN + (size_t)cu_get_u16(p + 2);
	c = slice(p, n);
	struct cu_record rec;
	if (cu_record_decode(c, n, &rec) == 0) {
		uint8_t out[CU_RECORD_MAX];
		if (cu_record_encode(&rec, out) != n || memcmp(out, c, n) != 0)
			abort();
	}
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < PREFIX_LEN || size > CU_FUZZ_INPUT_MAX)
		return 0;
	const uint8_t *seg = data + PREFIX_LEN;
	size_t len = size - PREFIX_LEN;

	for (size_t off = 0; off < len && off < DECODE_SPAN; off += DECODE_STEP)
		decode_at(seg + off, len - off);

	/* what cu_segment_scan reads of the store: id, mode, signer */
	struct cu_store s;
	memset(&s, 0, sizeof(s));
	s.encryption = CU_ENC_NONE;
	s.have_keys = false;
	if (len >= CU_SEG_CANON_OFF + CU_ID_LEN)
		memcpy(s.id, seg + CU_SEG_CANON_OFF, CU_ID_LEN);
	memcpy(s.signer.ed25519_pub, data, CU_ED25519_KEY_LEN);
	memcpy(s.signer.fingerprint, data + CU_ED25519_KEY_LEN, CU_SHA256_LEN);

	/* cu_segment_scan opens with O_NOFOLLOW, which refuses a memfd's
	 * /proc/self/fd link: give it a real file */
	const char *path = cu_fuzz_tmp_write(seg, len);
	struct cu_seg_scan sc;
	int r = cu_segment_scan(&s, path, &sc, NULL, NULL);
	if (r == 0) {
		/* a segment without a valid seal must not pass; what is proven
		 * cannot reach past the end of the file */
		if ((sc.fail == 0 && sc.seals == 0) || sc.good_end > len || sc.file_size != len ||
		    sc.nrecs > sc.records)
			abort();
		cu_seg_scan_free(&sc);
	}
	return 0;
}
