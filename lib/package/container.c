/* The package container: a clear 128-byte header, then the tar stream in
 * 1 MiB chunks, each sealed with AES-256-GCM (nonce = 0^32 || chunk number
 * big-endian, AAD = header hash || last-chunk flag) when the package is
 * encrypted. docs/formats/evidence-package.md, "The header" and "Chunks". */
#include <stdlib.h>
#include <string.h>

#include "package/package_int.h"
#include "store/format.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

static const char key_info[] = "custody/v1/package-key";     /* without the NUL */
static const char check_info[] = "custody/v1/package-check";

int
cu_pkg_header_encode(struct cu_pkg_header *h, uint8_t out[static CU_PKG_HEADER_LEN])
{
	memset(out, 0, CU_PKG_HEADER_LEN);
	memcpy(out, CU_PKG_MAGIC, 8);
	cu_put_u16(out + 8, h->version);
	cu_put_u16(out + 10, h->flags);
	cu_put_u32(out + 12, CU_PKG_HEADER_LEN);
	cu_put_u32(out + 16, h->chunk);
	cu_put_u32(out + 20, h->kdf.t_cost);
	cu_put_u32(out + 24, h->kdf.m_cost_kib);
	cu_put_u32(out + 28, h->kdf.parallelism);
	memcpy(out + 32, h->salt, CU_PKG_SALT_LEN);
	memcpy(out + 48, h->key_check, CU_SHA256_LEN);
	cu_put_u64(out + 80, h->plain_len);
	int r = cu_sha256(out, CU_PKG_HASHED_LEN, h->hash);
	if (r < 0)
		return r;
	memcpy(out + CU_PKG_HASHED_LEN, h->hash, CU_SHA256_LEN);
	return 0;
}

int
cu_pkg_header_decode(const uint8_t *in, size_t len, struct cu_pkg_header *ret)
{
	if (len < CU_PKG_HEADER_LEN || memcmp(in, CU_PKG_MAGIC, 8) != 0)
		return cu_fail(CU_ERR_FORMAT, "not a custody evidence package (no CUSTPKG header)");
	uint8_t hash[CU_SHA256_LEN];
	int r = cu_sha256(in, CU_PKG_HASHED_LEN, hash);
	if (r < 0)
		return r;
	if (!cu_ct_equal(hash, in + CU_PKG_HASHED_LEN, CU_SHA256_LEN))
		return cu_fail(CU_ERR_TAMPERED, "the package header is damaged (its SHA-256 does not "
		               "match)");
	struct cu_pkg_header h;
	memset(&h, 0, sizeof(h));
	h.version = cu_get_u16(in + 8);
	if (h.version != CU_PKG_VERSION)
		return cu_fail(CU_ERR_UNSUPPORTED, "evidence package format version %u (this custody "
		               "reads %d)", h.version, CU_PKG_VERSION);
	h.flags = cu_get_u16(in + 10);
	h.chunk = cu_get_u32(in + 16);
	h.kdf.t_cost = cu_get_u32(in + 20);
	h.kdf.m_cost_kib = cu_get_u32(in + 24);
	h.kdf.parallelism = cu_get_u32(in + 28);
	memcpy(h.salt, in + 32, CU_PKG_SALT_LEN);
	memcpy(h.key_check, in + 48, CU_SHA256_LEN);
	h.plain_len = cu_get_u64(in + 80);
	memcpy(h.hash, hash, CU_SHA256_LEN);
	bool enc = h.flags & CU_PKG_FLAG_ENCRYPTED;
	const char *bad = NULL;
	if (h.flags & ~(CU_PKG_FLAG_ENCRYPTED | CU_PKG_FLAG_NO_REEXPORT))
		bad = "unknown flags";
	else if (cu_get_u32(in + 12) != CU_PKG_HEADER_LEN)
		bad = "header length is not 128";
	else if (h.chunk != CU_PKG_CHUNK)
		bad = "chunk size is not 1 MiB";
	else if (!cu_all_zero(in + 88, 8))
		bad = "reserved bytes are not zero";
	else if (h.plain_len < 6 * CU_TAR_BLOCK || h.plain_len > CU_PKG_PLAIN_MAX ||
	         h.plain_len % CU_TAR_BLOCK != 0)
		bad = "impossible plaintext length";
	else if (!enc && (h.kdf.t_cost || h.kdf.m_cost_kib || h.kdf.parallelism ||
	                  !cu_all_zero(h.salt, sizeof(h.salt)) || !cu_all_zero(h.key_check, CU_SHA256_LEN)))
		bad = "key fields set in an unencrypted package";
	else if (enc && (h.kdf.t_cost < 1 || h.kdf.t_cost > CU_ARGON2_T_MAX ||
	                 h.kdf.m_cost_kib < CU_ARGON2_M_MIN || h.kdf.m_cost_kib > CU_ARGON2_M_MAX ||
	                 h.kdf.parallelism < 1 || h.kdf.parallelism > CU_ARGON2_P_MAX))
		bad = "Argon2id parameters outside custody's limits";
	if (bad != NULL)
		return cu_fail(CU_ERR_TAMPERED, "the package header is damaged: %s", bad);
	*ret = h;
	return 0;
}

uint64_t
cu_pkg_chunks(uint64_t plain_len)
{
	return plain_len == 0 ? 1 : (plain_len - 1) / CU_PKG_CHUNK + 1;
}

uint64_t
cu_pkg_file_size(const struct cu_pkg_header *h)
{
	uint64_t n = CU_PKG_HEADER_LEN + h->plain_len;
	if (h->flags & CU_PKG_FLAG_ENCRYPTED)
		n += cu_pkg_chunks(h->plain_len) * CU_GCM_TAG_LEN;
	return n;
}

uint64_t
cu_pkg_chunk_offset(const struct cu_pkg_header *h, uint64_t i)
{
	uint64_t stored = h->flags & CU_PKG_FLAG_ENCRYPTED ? CU_PKG_STORED_CHUNK : CU_PKG_CHUNK;
	return CU_PKG_HEADER_LEN + i * stored;
}

int
cu_pkg_derive(const char *password, size_t len, const struct cu_pkg_header *h,
              uint8_t key[static CU_AES256_KEY_LEN], uint8_t check[static CU_SHA256_LEN])
{
	uint8_t master[32];
	char salt[2 * CU_PKG_SALT_LEN + 1];
	/* the salt as hex text, so that the argon2 command can derive it too */
	cu_hex(h->salt, CU_PKG_SALT_LEN, salt);
	int r = cu_argon2id(password, len, (const uint8_t *)salt, 2 * CU_PKG_SALT_LEN, &h->kdf,
	                    master, sizeof(master));
	if (r == 0)
		r = cu_hkdf_sha256(NULL, 0, master, sizeof(master), (const uint8_t *)key_info,
		                   sizeof(key_info) - 1, key, CU_AES256_KEY_LEN);
	if (r == 0)
		r = cu_hkdf_sha256(NULL, 0, master, sizeof(master), (const uint8_t *)check_info,
		                   sizeof(check_info) - 1, check, CU_SHA256_LEN);
	cu_wipe(master, sizeof(master));
	return r;
}

static void
chunk_nonce(uint64_t i, uint8_t out[static CU_GCM_NONCE_LEN])
{
	memset(out, 0, 4);
	for (int k = 0; k < 8; k++)
		out[4 + k] = (uint8_t)(i >> (56 - 8 * k)); /* big-endian: an AES-CTR counter block */
}

/* ---- writing ---- */

struct cu_pkg_out {
	int fd;
	cu_aead *aead;                      /* NULL: not encrypted */
	uint8_t aad[CU_SHA256_LEN + 1];
	uint8_t *buf;                       /* one chunk and its tag */
	size_t len;                         /* plaintext bytes in buf */
	uint64_t index, written, total;
	cu_sha256_ctx *file_hash;           /* NULL, or the caller's: every byte written to fd */
};

int
cu_pkg_out_new(int fd, const struct cu_pkg_header *h, const uint8_t *key,
               cu_sha256_ctx *file_hash, cu_pkg_out **ret)
{
	cu_pkg_out *o = calloc(1, sizeof(*o));
	if (o == NULL || (o->buf = malloc(CU_PKG_STORED_CHUNK)) == NULL) {
		free(o);
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	}
	o->fd = fd;
	o->file_hash = file_hash;
	o->total = h->plain_len;
	memcpy(o->aad, h->hash, CU_SHA256_LEN);
	if (key != NULL) {
		int r = cu_aead_new(key, &o->aead);
		if (r < 0) {
			cu_pkg_out_free(o);
			return r;
		}
	}
	*ret = o;
	return 0;
}

static int
out_flush(cu_pkg_out *o)
{
	size_t n = o->len;
	if (o->aead != NULL) {
		uint8_t nonce[CU_GCM_NONCE_LEN];
		chunk_nonce(o->index, nonce);
		o->aad[CU_SHA256_LEN] = o->written == o->total ? 1 : 0;
		int r = cu_aead_seal(o->aead, nonce, sizeof(nonce), o->aad, sizeof(o->aad), o->buf,
		                     o->len, o->buf, o->buf + o->len);
		if (r < 0)
			return r;
		n += CU_GCM_TAG_LEN;
	}
	int r = cu_write_all(o->fd, o->buf, n, "evidence package");
	if (r < 0 || (o->file_hash != NULL && (r = cu_sha256_update(o->file_hash, o->buf, n)) < 0))
		return r;
	o->index++;
	o->len = 0;
	return 0;
}

int
cu_pkg_out_write(cu_pkg_out *o, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (len > o->total - o->written)
		return cu_fail(CU_ERR_INVAL, "package stream longer than its header says");
	while (len > 0) {
		if (o->len == CU_PKG_CHUNK) {
			int r = out_flush(o); /* full, and more follows: not the last chunk */
			if (r < 0)
				return r;
		}
		size_t n = CU_PKG_CHUNK - o->len;
		if (n > len)
			n = len;
		memcpy(o->buf + o->len, p, n);
		o->len += n;
		o->written += n;
		p += n;
		len -= n;
	}
	return 0;
}

int
cu_pkg_out_finish(cu_pkg_out *o)
{
	if (o->written != o->total)
		return cu_fail(CU_ERR_INVAL, "package stream is %llu bytes, its header says %llu",
		               (unsigned long long)o->written, (unsigned long long)o->total);
	return out_flush(o);
}

void
cu_pkg_out_free(cu_pkg_out *o)
{
	if (o == NULL)
		return;
	cu_aead_free(o->aead);
	if (o->buf != NULL)
		cu_wipe(o->buf, CU_PKG_STORED_CHUNK);
	free(o->buf);
	free(o);
}

/* ---- reading ---- */

struct cu_pkg_in {
	int fd;
	struct cu_pkg_header h;
	cu_aead *aead;
	uint8_t *buf;                       /* the cached chunk's plaintext (encrypted only) */
	uint64_t cached;                    /* its number; UINT64_MAX: none */
	size_t cached_len;
	bool damaged;
	uint64_t damaged_off;
};

int
cu_pkg_in_new(int fd, const struct cu_pkg_header *h, const uint8_t *key, cu_pkg_in **ret)
{
	cu_pkg_in *in = calloc(1, sizeof(*in));
	if (in == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	in->fd = fd;
	in->h = *h;
	in->cached = UINT64_MAX;
	if (key != NULL) {
		int r;
		if ((in->buf = malloc(CU_PKG_STORED_CHUNK)) == NULL)
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
		else
			r = cu_aead_new(key, &in->aead);
		if (r < 0) {
			cu_pkg_in_free(in);
			return r;
		}
	}
	*ret = in;
	return 0;
}

static int
in_load(cu_pkg_in *in, uint64_t i)
{
	uint64_t n = cu_pkg_chunks(in->h.plain_len);
	size_t len = i + 1 < n ? CU_PKG_CHUNK : (size_t)(in->h.plain_len - i * CU_PKG_CHUNK);
	uint64_t off = cu_pkg_chunk_offset(&in->h, i);
	in->cached = UINT64_MAX;
	int r = cu_pread_all(in->fd, in->buf, len + CU_GCM_TAG_LEN, off, "evidence package");
	if (r < 0)
		return r;
	uint8_t nonce[CU_GCM_NONCE_LEN], aad[CU_SHA256_LEN + 1];
	chunk_nonce(i, nonce);
	memcpy(aad, in->h.hash, CU_SHA256_LEN);
	aad[CU_SHA256_LEN] = i + 1 == n ? 1 : 0;
	r = cu_aead_open(in->aead, nonce, sizeof(nonce), aad, sizeof(aad), in->buf, len, in->buf,
	                 in->buf + len, CU_GCM_TAG_LEN);
	if (r == CU_ERR_AUTH) {
		if (!in->damaged || off < in->damaged_off) {
			in->damaged = true;
			in->damaged_off = off;
		}
		return cu_fail(CU_ERR_AUTH, "the package is damaged at byte %llu (chunk %llu fails "
		               "its authentication tag)", (unsigned long long)off,
		               (unsigned long long)i);
	}
	if (r < 0)
		return r;
	in->cached = i;
	in->cached_len = len;
	return 0;
}

int
cu_pkg_in_read(cu_pkg_in *in, void *buf, size_t len, uint64_t off)
{
	if (off > in->h.plain_len || len > in->h.plain_len - off)
		return cu_fail(CU_ERR_FORMAT, "read past the end of the package stream");
	if (in->aead == NULL)
		return cu_pread_all(in->fd, buf, len, CU_PKG_HEADER_LEN + off, "evidence package");
	uint8_t *p = buf;
	while (len > 0) {
		uint64_t i = off / CU_PKG_CHUNK;
		if (in->cached != i) {
			int r = in_load(in, i);
			if (r < 0)
				return r;
		}
		size_t at = (size_t)(off - i * CU_PKG_CHUNK);
		size_t n = in->cached_len - at;
		if (n > len)
			n = len;
		memcpy(p, in->buf + at, n);
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

const uint8_t *
cu_pkg_in_view(cu_pkg_in *in, size_t len, uint64_t off)
{
	if (in->aead == NULL || len == 0 || off > in->h.plain_len || len > in->h.plain_len - off)
		return NULL;
	uint64_t i = off / CU_PKG_CHUNK;
	if ((off + len - 1) / CU_PKG_CHUNK != i)
		return NULL;
	if (in->cached != i && in_load(in, i) < 0)
		return NULL; /* the read that follows fails the same way, and says so */
	return in->buf + (off - i * CU_PKG_CHUNK);
}

bool
cu_pkg_in_damaged(const cu_pkg_in *in, uint64_t *ret_off)
{
	if (in->damaged && ret_off != NULL)
		*ret_off = in->damaged_off;
	return in->damaged;
}

void
cu_pkg_in_clear(cu_pkg_in *in)
{
	in->damaged = false;
	in->damaged_off = 0;
}

void
cu_pkg_in_free(cu_pkg_in *in)
{
	if (in == NULL)
		return;
	cu_aead_free(in->aead);
	if (in->buf != NULL)
		cu_wipe(in->buf, CU_PKG_STORED_CHUNK);
	free(in->buf);
	free(in);
}
