/* The audit log: STORE/audit.db, entries chained with SHA-256 and leaves of an
 * RFC 9162 Merkle tree whose heads the recording server signs. The byte
 * layouts and the verification rules are docs/formats/audit-log.md; keep the
 * two in step. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/time.h"
#include "store/format.h"
#include "util/db.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"
#include "custody/text.h"

#define AUDIT_FILE "audit.db"
#define AUDIT_FORMAT "custody-audit"
#define AUDIT_VERSION "1"
#define LEAF_VERSION 1
#define CHAIN_LABEL "custody/v1/audit-chain"   /* + NUL */
#define HEAD_LABEL "custody/v1/tree-head"      /* + NUL */
#define HEAD_MSG_LEN (sizeof(HEAD_LABEL) + 8 + 8 + 2 * CU_SHA256_LEN + CU_ID_LEN)
#define HEX_HASH (2 * CU_SHA256_LEN + 1)
/* A log of at most 2^40 entries has at most 40 perfect subtrees, 41 while a
 * push merges. */
#define FRONTIER_MAX 41
#define NONE UINT64_MAX

static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE entries("
	"  idx INTEGER PRIMARY KEY,"
	"  time_us INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  chain TEXT NOT NULL);"
	"CREATE TABLE heads("
	"  id INTEGER PRIMARY KEY,"
	"  size INTEGER NOT NULL,"
	"  time_us INTEGER NOT NULL,"
	"  root TEXT NOT NULL,"
	"  chain TEXT NOT NULL,"
	"  key_id TEXT NOT NULL,"
	"  signature TEXT NOT NULL);"
	"CREATE TABLE state("
	"  id INTEGER PRIMARY KEY CHECK(id = 1),"
	"  size INTEGER NOT NULL,"
	"  chain TEXT NOT NULL,"
	"  frontier TEXT NOT NULL);";

struct cu_audit {
	cu_store *s;
	cu_db *db;
	pthread_mutex_t lock;
	cu_sign_key *key;
	cu_sha256_ctx *sha;
	sqlite3_stmt *st_state, *st_state_put, *st_insert, *st_last_entry, *st_last_head,
		*st_head_put;
};

/* ---- hashing ---- */

/* The right edge of the tree: the hashes of the perfect subtrees that the
 * first n leaves split into, largest (leftmost) first; one per bit of n. */
struct frontier {
	uint64_t n;
	unsigned count;
	uint8_t h[FRONTIER_MAX + 1][CU_SHA256_LEN];
};

static unsigned
popcount64(uint64_t v)
{
	unsigned c = 0;
	for (; v != 0; v &= v - 1)
		c++;
	return c;
}

static int
node_hash(const uint8_t left[static CU_SHA256_LEN], const uint8_t right[static CU_SHA256_LEN],
          uint8_t out[static CU_SHA256_LEN])
{
	uint8_t buf[1 + 2 * CU_SHA256_LEN];
	buf[0] = 0x01;
	memcpy(buf + 1, left, CU_SHA256_LEN);
	memcpy(buf + 1 + CU_SHA256_LEN, right, CU_SHA256_LEN);
	return cu_sha256(buf, sizeof(buf), out);
}

static int
frontier_push(struct frontier *f, const uint8_t leaf[static CU_SHA256_LEN])
{
	if (f->n >= CU_AUDIT_ENTRIES_MAX)
		return cu_fail(CU_ERR_LIMIT, "audit log: more than 2^40 entries");
	memcpy(f->h[f->count++], leaf, CU_SHA256_LEN);
	f->n++;
	/* Two subtrees of equal size merge: as many as n has trailing zero bits. */
	for (uint64_t m = f->n; (m & 1) == 0; m >>= 1) {
		int r = node_hash(f->h[f->count - 2], f->h[f->count - 1], f->h[f->count - 2]);
		if (r < 0)
			return r;
		f->count--;
	}
	return 0;
}

/* RFC 9162 §2.1.1: MTH({}) = SHA-256(""); otherwise the subtrees folded from
 * the right, which is exactly the split at the largest power of two < n. */
static int
frontier_root(const struct frontier *f, uint8_t out[static CU_SHA256_LEN])
{
	if (f->n == 0)
		return cu_sha256("", 0, out);
	uint8_t acc[CU_SHA256_LEN];
	memcpy(acc, f->h[f->count - 1], CU_SHA256_LEN);
	for (unsigned i = f->count - 1; i-- > 0;) {
		int r = node_hash(f->h[i], acc, acc);
		if (r < 0)
			return r;
	}
	memcpy(out, acc, CU_SHA256_LEN);
	return 0;
}

int
cu_audit_tree_root(const uint8_t *leaf_hashes, uint64_t n, uint8_t out[static CU_SHA256_LEN])
{
	if (n > CU_AUDIT_ENTRIES_MAX || (n > 0 && leaf_hashes == NULL))
		return cu_fail(CU_ERR_INVAL, "cu_audit_tree_root: bad arguments");
	struct frontier *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = 0;
	for (uint64_t i = 0; i < n && r == 0; i++)
		r = frontier_push(f, leaf_hashes + i * CU_SHA256_LEN);
	if (r == 0)
		r = frontier_root(f, out);
	free(f);
	return r;
}

/* An entry's stored columns. */
struct leaf {
	uint64_t index;
	int64_t time_us;
	const char *type, *actor, *source, *detail;
	size_t type_len, actor_len, source_len, detail_len;
};

static int
leaf_hash(cu_sha256_ctx *c, const struct leaf *l, uint8_t out[static CU_SHA256_LEN])
{
	if (l->type_len > CU_AUDIT_NAME_MAX || l->actor_len > CU_AUDIT_NAME_MAX ||
	    l->source_len > CU_AUDIT_NAME_MAX || l->detail_len > CU_AUDIT_DETAIL_MAX)
		return cu_fail(CU_ERR_LIMIT, "audit entry %llu: a field is over its limit",
		               (unsigned long long)l->index);
	uint8_t fixed[1 + 1 + 8 + 8], len[4];
	fixed[0] = 0x00; /* RFC 9162 leaf prefix */
	fixed[1] = LEAF_VERSION;
	cu_put_u64(fixed + 2, l->index);
	cu_put_u64(fixed + 10, (uint64_t)l->time_us);
	int r;
	if ((r = cu_sha256_init(c)) < 0 || (r = cu_sha256_update(c, fixed, sizeof(fixed))) < 0)
		return r;
	const char *str[3] = {l->type, l->actor, l->source};
	size_t lens[3] = {l->type_len, l->actor_len, l->source_len};
	for (int i = 0; i < 3; i++) {
		cu_put_u16(len, (uint16_t)lens[i]);
		if ((r = cu_sha256_update(c, len, 2)) < 0 ||
		    (lens[i] > 0 && (r = cu_sha256_update(c, str[i], lens[i])) < 0))
			return r;
	}
	cu_put_u32(len, (uint32_t)l->detail_len);
	if ((r = cu_sha256_update(c, len, 4)) < 0 ||
	    (l->detail_len > 0 && (r = cu_sha256_update(c, l->detail, l->detail_len)) < 0))
		return r;
	return cu_sha256_final(c, out);
}

static int
chain_step(const uint8_t prev[static CU_SHA256_LEN], const uint8_t leaf[static CU_SHA256_LEN],
           uint8_t out[static CU_SHA256_LEN])
{
	uint8_t buf[2 * CU_SHA256_LEN];
	memcpy(buf, prev, CU_SHA256_LEN);
	memcpy(buf + CU_SHA256_LEN, leaf, CU_SHA256_LEN);
	return cu_sha256(buf, sizeof(buf), out);
}

static int
chain_init(const cu_store *s, uint8_t out[static CU_SHA256_LEN])
{
	uint8_t buf[sizeof(CHAIN_LABEL) + CU_ID_LEN];
	memcpy(buf, CHAIN_LABEL, sizeof(CHAIN_LABEL));
	memcpy(buf + sizeof(CHAIN_LABEL), cu_store_ident(s).id, CU_ID_LEN);
	return cu_sha256(buf, sizeof(buf), out);
}

static void
head_message(const cu_store *s, const struct cu_audit_head *h, uint8_t msg[static HEAD_MSG_LEN])
{
	uint8_t *p = msg;
	memcpy(p, HEAD_LABEL, sizeof(HEAD_LABEL));
	p += sizeof(HEAD_LABEL);
	cu_put_u64(p, h->size);
	cu_put_u64(p + 8, (uint64_t)h->time_us);
	p += 16;
	memcpy(p, h->root, CU_SHA256_LEN);
	memcpy(p + CU_SHA256_LEN, h->chain, CU_SHA256_LEN);
	memcpy(p + 2 * CU_SHA256_LEN, cu_store_ident(s).id, CU_ID_LEN);
}

int
cu_audit_leaf_hash(uint64_t index, const struct cu_audit_entry *e,
                   uint8_t out[static CU_SHA256_LEN])
{
	if (e == NULL || e->type == NULL || e->actor == NULL || e->source == NULL ||
	    e->detail == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_leaf_hash: NULL field");
	struct leaf l = {
		.index = index, .time_us = e->time_us, .type = e->type, .actor = e->actor,
		.source = e->source, .detail = e->detail,
		.type_len = strnlen(e->type, CU_AUDIT_NAME_MAX + 1),
		.actor_len = strnlen(e->actor, CU_AUDIT_NAME_MAX + 1),
		.source_len = strnlen(e->source, CU_AUDIT_NAME_MAX + 1),
		.detail_len = strnlen(e->detail, CU_AUDIT_DETAIL_MAX + 1),
	};
	cu_sha256_ctx *c;
	int r = cu_sha256_new(&c);
	if (r < 0)
		return r;
	r = leaf_hash(c, &l, out);
	cu_sha256_free(c);
	return r;
}

/* ---- database ---- */

/* what every detail of the audit log's database starts with */
#define AUDIT_NAME "audit.db"

static int
check_meta(const cu_store *s, cu_db *db)
{
	char v[64], idhex[2 * CU_ID_LEN + 1];
	int r;
	if ((r = cu_db_meta_get(db, "format", v, sizeof(v))) < 0)
		return r;
	if (strcmp(v, AUDIT_FORMAT) != 0)
		return cu_fail(CU_ERR_FORMAT, "audit.db: not a custody audit log");
	if ((r = cu_db_meta_get(db, "version", v, sizeof(v))) < 0)
		return r;
	if (strcmp(v, AUDIT_VERSION) != 0)
		return cu_fail(CU_ERR_UNSUPPORTED, "audit.db: version %s (this custody reads %s)", v,
		               AUDIT_VERSION);
	if ((r = cu_db_meta_get(db, "store_id", v, sizeof(v))) < 0)
		return r;
	cu_hex(cu_store_ident(s).id, CU_ID_LEN, idhex);
	if (strcmp(v, idhex) != 0)
		return cu_fail(CU_ERR_FORMAT, "audit.db belongs to another store (store_id %s)", v);
	return 0;
}

/* Opens STORE/audit.db. Readers get query_only; like the catalogue they open
 * read-write so that a WAL database leaves no -wal/-shm files behind. */
static int
db_open(const cu_store *s, bool writer, cu_db **ret)
{
	char path[PATH_MAX];
	int r = cu_path(path, sizeof(path), "%s/%s", cu_store_ident(s).dir, AUDIT_FILE);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? cu_fail(CU_ERR_NOTFOUND, "%s: this store has no audit log",
		                                 path)
		                       : cu_fail_errno(errno, "%s", path);
	/* synchronous=FULL: an entry must survive a crash once append returns. */
	cu_db *db = NULL;
	if ((r = cu_db_open(path, AUDIT_NAME, writer ? CU_DB_WAL | CU_DB_SYNC_FULL
	                                             : CU_DB_QUERY_ONLY, &db)) < 0)
		return r;
	if ((r = check_meta(s, db)) < 0) {
		cu_db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

static void
frontier_hex(const struct frontier *f, char *out)
{
	out[0] = '\0';
	for (unsigned i = 0; i < f->count; i++)
		cu_hex(f->h[i], CU_SHA256_LEN, out + i * 2 * CU_SHA256_LEN);
}

static int
sign_head(cu_store *s, cu_sign_key *key, const struct frontier *f,
          const uint8_t chain[static CU_SHA256_LEN], struct cu_audit_head *h)
{
	uint8_t msg[HEAD_MSG_LEN];
	int r;
	memset(h, 0, sizeof(*h));
	h->size = f->n;
	h->time_us = cu_time_now_us();
	if ((r = frontier_root(f, h->root)) < 0)
		return r;
	memcpy(h->chain, chain, CU_SHA256_LEN);
	memcpy(h->key_id, cu_store_ident(s).signer->fingerprint, CU_SHA256_LEN);
	head_message(s, h, msg);
	return cu_sign_key_sign(key, msg, sizeof(msg), h->signature);
}

static int
head_bind(sqlite3_stmt *st, const struct cu_audit_head *h)
{
	char root[HEX_HASH], chain[HEX_HASH], kid[HEX_HASH], sig[2 * CU_ED25519_SIG_LEN + 1];
	cu_hex(h->root, CU_SHA256_LEN, root);
	cu_hex(h->chain, CU_SHA256_LEN, chain);
	cu_hex(h->key_id, CU_SHA256_LEN, kid);
	cu_hex(h->signature, CU_ED25519_SIG_LEN, sig);
	sqlite3_bind_int64(st, 1, (int64_t)h->size);
	sqlite3_bind_int64(st, 2, h->time_us);
	sqlite3_bind_text(st, 3, root, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, chain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, kid, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, sig, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

#define HEAD_INSERT "INSERT INTO heads(size, time_us, root, chain, key_id, signature) " \
	"VALUES(?, ?, ?, ?, ?, ?)"

/* Makes STORE/audit.db in one step: the schema, meta, an empty state and a
 * signed head of size 0 go into a private temporary file that is then linked
 * into place, so a crash leaves either no log or a whole one, and two
 * processes creating it at once agree on one. */
static int
db_create(cu_store *s, cu_sign_key *key)
{
	char path[PATH_MAX], tmp[PATH_MAX], idhex[2 * CU_ID_LEN + 1];
	cu_db *db = NULL;
	sqlite3_stmt *st = NULL;
	int r;
	if ((r = cu_path(path, sizeof(path), "%s/%s", cu_store_ident(s).dir, AUDIT_FILE)) < 0 ||
	    (r = cu_path(tmp, sizeof(tmp), "%s/%s.tmp-%ld", cu_store_ident(s).dir, AUDIT_FILE, (long)getpid())) < 0)
		return r;
	unlink(tmp); /* a previous crash of this pid number */
	if ((r = cu_db_open(tmp, AUDIT_NAME, CU_DB_CREATE | CU_DB_SYNC_FULL, &db)) < 0 ||
	    (r = cu_db_begin(db, false)) < 0 || (r = cu_db_exec(db, schema, "schema")) < 0)
		goto out;
	cu_hex(cu_store_ident(s).id, CU_ID_LEN, idhex);
	const char *const kv[][2] = {
		{"format", AUDIT_FORMAT}, {"version", AUDIT_VERSION}, {"store_id", idhex},
	};
	if ((r = cu_db_meta_put(db, kv, sizeof(kv) / sizeof(kv[0]))) < 0)
		goto out;
	struct frontier f = {0};
	uint8_t chain[CU_SHA256_LEN];
	char chex[HEX_HASH];
	struct cu_audit_head h;
	if ((r = chain_init(s, chain)) < 0 || (r = sign_head(s, key, &f, chain, &h)) < 0)
		goto out;
	cu_hex(chain, CU_SHA256_LEN, chex);
	if ((r = cu_db_prepare(db, "INSERT INTO state(id, size, chain, frontier) "
	                       "VALUES(1, 0, ?, '')", "state", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, chex, -1, SQLITE_STATIC);
	if ((r = cu_db_step_done(db, st, "state")) < 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((r = cu_db_prepare(db, HEAD_INSERT, "first tree head", &st)) < 0)
		goto out;
	if (head_bind(st, &h) < 0) {
		r = cu_db_fail(db, "first tree head");
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((r = cu_db_commit(db)) < 0)
		goto out;
	r = cu_db_close(db);
	db = NULL;
	if (r < 0)
		goto out;
	if (link(tmp, path) < 0 && errno != EEXIST) {
		r = cu_fail_errno(errno, "%s", path);
		goto out;
	}
	r = cu_fsync_dir(cu_store_ident(s).dir);
out:
	sqlite3_finalize(st);
	cu_db_close(db);
	unlink(tmp);
	return r;
}

/* The log's state, read inside a write transaction. */
struct state {
	struct frontier f;
	uint8_t chain[CU_SHA256_LEN];
};

static int
state_read(cu_audit *a, struct state *ret)
{
	sqlite3_stmt *st = a->st_state;
	int r = 0, rc = sqlite3_step(st);
	memset(ret, 0, sizeof(*ret));
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? cu_fail(CU_ERR_FORMAT, "audit.db: the state row is missing")
		                      : cu_db_fail(a->db, "reading the state");
		goto out;
	}
	int64_t size = sqlite3_column_int64(st, 0);
	const char *chain = (const char *)sqlite3_column_text(st, 1);
	const char *fr = (const char *)sqlite3_column_text(st, 2);
	size_t frlen = (size_t)sqlite3_column_bytes(st, 2);
	if (size < 0 || (uint64_t)size > CU_AUDIT_ENTRIES_MAX || chain == NULL || fr == NULL ||
	    cu_unhex(chain, ret->chain, CU_SHA256_LEN) < 0 ||
	    frlen != (size_t)popcount64((uint64_t)size) * 2 * CU_SHA256_LEN) {
		r = cu_fail(CU_ERR_DAMAGED, "audit.db: the state row is malformed");
		goto out;
	}
	ret->f.n = (uint64_t)size;
	ret->f.count = popcount64((uint64_t)size);
	for (unsigned i = 0; i < ret->f.count; i++) {
		char one[HEX_HASH];
		memcpy(one, fr + i * 2 * CU_SHA256_LEN, 2 * CU_SHA256_LEN);
		one[2 * CU_SHA256_LEN] = '\0';
		if (cu_unhex(one, ret->f.h[i], CU_SHA256_LEN) < 0) {
			r = cu_fail(CU_ERR_DAMAGED, "audit.db: the state row is malformed");
			goto out;
		}
	}
out:
	sqlite3_reset(st);
	return r;
}

/* The newest head's size and row (to compare with the state), or -1 with no head. */
static int
last_head(cu_audit *a, struct cu_audit_head *h, bool *ret_found)
{
	sqlite3_stmt *st = a->st_last_head;
	int r = 0, rc = sqlite3_step(st);
	*ret_found = false;
	if (rc == SQLITE_ROW) {
		int64_t size = sqlite3_column_int64(st, 1);
		const char *root = (const char *)sqlite3_column_text(st, 3);
		const char *chain = (const char *)sqlite3_column_text(st, 4);
		const char *kid = (const char *)sqlite3_column_text(st, 5);
		const char *sig = (const char *)sqlite3_column_text(st, 6);
		h->id = sqlite3_column_int64(st, 0);
		h->size = (uint64_t)size;
		h->time_us = sqlite3_column_int64(st, 2);
		if (size < 0 || cu_unhex(root, h->root, CU_SHA256_LEN) < 0 ||
		    cu_unhex(chain, h->chain, CU_SHA256_LEN) < 0 ||
		    cu_unhex(kid, h->key_id, CU_SHA256_LEN) < 0 ||
		    cu_unhex(sig, h->signature, CU_ED25519_SIG_LEN) < 0)
			r = cu_fail(CU_ERR_TAMPERED, "audit.db: the newest tree head is malformed; "
			            "run custody audit verify");
		else
			*ret_found = true;
	} else if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "reading the newest tree head");
	}
	sqlite3_reset(st);
	return r;
}

/* The saved state must agree with the newest entry and head: a writer never
 * builds on a log that was changed behind its back. Called in a transaction. */
static int
state_check(cu_audit *a, const struct state *stt)
{
	sqlite3_stmt *st = a->st_last_entry;
	int r = 0, rc = sqlite3_step(st);
	uint8_t chain[CU_SHA256_LEN];
	if (rc == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		const char *c = (const char *)sqlite3_column_text(st, 1);
		if (stt->f.n == 0 || idx != (int64_t)(stt->f.n - 1) ||
		    cu_unhex(c, chain, CU_SHA256_LEN) < 0 || memcmp(chain, stt->chain, CU_SHA256_LEN) != 0)
			r = cu_fail(CU_ERR_TAMPERED, "audit.db: the newest entry does not match the "
			            "log's state; run custody audit verify");
	} else if (rc == SQLITE_DONE) {
		if (stt->f.n != 0)
			r = cu_fail(CU_ERR_TAMPERED, "audit.db: entries are missing; run custody audit "
			            "verify");
	} else {
		r = cu_db_fail(a->db, "reading the newest entry");
	}
	sqlite3_reset(st);
	if (r < 0)
		return r;
	struct cu_audit_head h;
	bool found;
	if ((r = last_head(a, &h, &found)) < 0)
		return r;
	if (found && h.size > stt->f.n)
		return cu_fail(CU_ERR_TAMPERED, "audit.db: the newest tree head covers more entries "
		               "than the log has; run custody audit verify");
	return 0;
}

void
cu_audit_close(cu_audit *a)
{
	if (a == NULL)
		return;
	sqlite3_finalize(a->st_state);
	sqlite3_finalize(a->st_state_put);
	sqlite3_finalize(a->st_insert);
	sqlite3_finalize(a->st_last_entry);
	sqlite3_finalize(a->st_last_head);
	sqlite3_finalize(a->st_head_put);
	cu_db_close(a->db);
	cu_sign_key_free(a->key);
	cu_sha256_free(a->sha);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int
cu_audit_open(cu_store *s, cu_audit **ret)
{
	if (s == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_open: NULL argument");
	cu_audit *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&a->lock, NULL);
	a->s = s;
	int r = cu_store_signer(s, &a->key);
	if (r == CU_ERR_PASSWORD)
		r = cu_fail(CU_ERR_PASSWORD, "the store password is needed to write the audit log");
	if (r < 0 || (r = cu_sha256_new(&a->sha)) < 0)
		goto fail;
	r = db_open(s, true, &a->db);
	if (r == CU_ERR_NOTFOUND) {
		if ((r = db_create(s, a->key)) < 0)
			goto fail;
		r = db_open(s, true, &a->db);
	}
	if (r < 0)
		goto fail;
	static const struct {
		size_t off;
		const char *sql;
	} stmts[] = {
		{offsetof(cu_audit, st_state), "SELECT size, chain, frontier FROM state WHERE id = 1"},
		{offsetof(cu_audit, st_state_put),
		 "UPDATE state SET size = ?, chain = ?, frontier = ? WHERE id = 1"},
		{offsetof(cu_audit, st_insert), "INSERT INTO entries(idx, time_us, type, actor, source, "
		 "detail, chain) VALUES(?, ?, ?, ?, ?, ?, ?)"},
		{offsetof(cu_audit, st_last_entry),
		 "SELECT idx, chain FROM entries ORDER BY idx DESC LIMIT 1"},
		{offsetof(cu_audit, st_last_head), "SELECT id, size, time_us, root, chain, key_id, "
		 "signature FROM heads ORDER BY id DESC LIMIT 1"},
		{offsetof(cu_audit, st_head_put), HEAD_INSERT},
	};
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_stmt **st = (sqlite3_stmt **)(void *)((char *)a + stmts[i].off);
		if ((r = cu_db_prepare(a->db, stmts[i].sql, "preparing statements", st)) < 0)
			goto fail;
	}
	/* Refuse to build on a log whose state was changed behind our back. */
	struct state stt;
	if ((r = cu_db_begin(a->db, false)) < 0)
		goto fail;
	if ((r = state_read(a, &stt)) == 0)
		r = state_check(a, &stt);
	cu_db_rollback(a->db);
	if (r < 0)
		goto fail;
	*ret = a;
	return 0;
fail:
	cu_audit_close(a);
	return r;
}

/* Dotted name: parts of [a-z0-9_]+ joined by single dots. */
static int
check_type(const char *t)
{
	size_t n = t ? strnlen(t, CU_AUDIT_NAME_MAX + 1) : 0;
	if (n == 0 || n > CU_AUDIT_NAME_MAX)
		return cu_fail(CU_ERR_INVAL, "audit entry type must be 1 to %d bytes", CU_AUDIT_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
		          (c == '.' && i > 0 && i + 1 < n && t[i - 1] != '.');
		if (!ok)
			return cu_fail(CU_ERR_INVAL, "audit entry type \"%s\": use [a-z0-9_] parts joined "
			               "by dots, like auth.login", t);
	}
	return 0;
}

/* 1..CU_AUDIT_NAME_MAX bytes under the one rule for text (util/text.h). */
static int
check_name(const char *what, const char *v)
{
	int r = cu_text_check(v, strnlen(v, CU_AUDIT_NAME_MAX + 1), CU_AUDIT_NAME_MAX,
	                      CU_TEXT_NONEMPTY);
	return r < 0 ? cu_fail_prefix(r, "audit entry %s", what) : 0;
}

/* Parses detail as a JSON object and returns its canonical text (malloc'd). */
static int
canonical_detail(const char *detail, char **ret, size_t *ret_len)
{
	size_t n = strnlen(detail, CU_AUDIT_DETAIL_MAX + 1);
	if (n > CU_AUDIT_DETAIL_MAX)
		return cu_fail(CU_ERR_LIMIT, "audit entry detail is over %d bytes", CU_AUDIT_DETAIL_MAX);
	json_error_t jerr;
	json_t *j = json_loadb(detail, n, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return cu_fail(CU_ERR_INVAL, "audit entry detail: %s at offset %d", jerr.text,
		               jerr.position);
	if (!json_is_object(j)) {
		json_decref(j);
		return cu_fail(CU_ERR_INVAL, "audit entry detail must be a JSON object");
	}
	char *c = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (c == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	size_t cl = strlen(c);
	if (cl > CU_AUDIT_DETAIL_MAX) {
		free(c);
		return cu_fail(CU_ERR_LIMIT, "audit entry detail is over %d bytes once canonical",
		               CU_AUDIT_DETAIL_MAX);
	}
	*ret = c;
	*ret_len = cl;
	return 0;
}

int
cu_audit_append(cu_audit *a, const struct cu_audit_entry *e, uint64_t *ret_index)
{
	if (a == NULL || e == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_append: NULL argument");
	const char *actor = e->actor ? e->actor : "-", *source = e->source ? e->source : "-";
	char *detail = NULL, iso[CU_TIME_ISO_MAX];
	size_t detail_len = 0;
	int r;
	if ((r = check_type(e->type)) < 0 || (r = check_name("actor", actor)) < 0 ||
	    (r = check_name("source", source)) < 0)
		return r;
	int64_t t = e->time_us ? e->time_us : cu_time_now_us();
	if (!cu_time_text(t, iso))
		return cu_fail(CU_ERR_INVAL, "audit entry time %lld is out of range", (long long)t);
	if ((r = canonical_detail(e->detail ? e->detail : "{}", &detail, &detail_len)) < 0)
		return r;

	pthread_mutex_lock(&a->lock);
	struct state stt;
	bool begun = false;
	if ((r = cu_db_begin(a->db, true)) < 0)
		goto out;
	begun = true;
	if ((r = state_read(a, &stt)) < 0)
		goto out;
	struct leaf l = {
		.index = stt.f.n, .time_us = t, .type = e->type, .actor = actor, .source = source,
		.detail = detail, .type_len = strlen(e->type), .actor_len = strlen(actor),
		.source_len = strlen(source), .detail_len = detail_len,
	};
	uint8_t lh[CU_SHA256_LEN];
	if ((r = leaf_hash(a->sha, &l, lh)) < 0 || (r = chain_step(stt.chain, lh, stt.chain)) < 0 ||
	    (r = frontier_push(&stt.f, lh)) < 0)
		goto out;
	char chex[HEX_HASH], fhex[FRONTIER_MAX * 2 * CU_SHA256_LEN + 1];
	cu_hex(stt.chain, CU_SHA256_LEN, chex);
	frontier_hex(&stt.f, fhex);
	sqlite3_stmt *st = a->st_insert;
	sqlite3_bind_int64(st, 1, (int64_t)l.index);
	sqlite3_bind_int64(st, 2, t);
	sqlite3_bind_text(st, 3, l.type, (int)l.type_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, actor, (int)l.actor_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, source, (int)l.source_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, detail, (int)detail_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, chex, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "appending an entry");
		goto out;
	}
	st = a->st_state_put;
	sqlite3_bind_int64(st, 1, (int64_t)stt.f.n);
	sqlite3_bind_text(st, 2, chex, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, fhex, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		r = cu_db_fail(a->db, "updating the state");
		goto out;
	}
	begun = false;
	if ((r = cu_db_commit(a->db)) < 0)
		goto out;
	if (ret_index != NULL)
		*ret_index = l.index;
	r = 0;
out:
	if (begun)
		cu_db_rollback(a->db);
	pthread_mutex_unlock(&a->lock);
	free(detail);
	return r;
}

int
cu_audit_export_end(cu_audit *a, const char *actor, const char *source,
                    const struct cu_audit_export_end *e, uint64_t *ret_index)
{
	if (e == NULL || e->id == NULL || e->format == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_export_end: NULL argument");
	json_t *d = json_pack("{s:s, s:s, s:s}", "id", e->id, "status", e->done ? "done" : "failed",
	                      "format", e->format);
	if (d == NULL)
		return cu_fail(CU_ERR_INVAL, "export.end: the id or format is not UTF-8");
	int r = 0;
	if (e->done) {
		char hex[HEX_HASH];
		cu_hex(e->sha256, CU_SHA256_LEN, hex);
		if (e->bytes > INT64_MAX)
			r = cu_fail(CU_ERR_INVAL, "export.end: %llu bytes", (unsigned long long)e->bytes);
		else if (json_object_set_new(d, "bytes", json_integer((json_int_t)e->bytes)) < 0 ||
		         json_object_set_new(d, "sha256", json_string(hex)) < 0)
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
	} else {
		json_t *why = json_string(e->error ? e->error : "(no reason given)");
		if (json_object_set_new(d, "error", why ? why : json_string("(not UTF-8)")) < 0)
			r = cu_fail(CU_ERR_NOMEM, "out of memory");
	}
	char *text = r == 0 ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	if (r < 0)
		return r;
	if (text == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	struct cu_audit_entry ent = {.type = "export.end", .actor = actor, .source = source,
	                             .detail = text};
	r = cu_audit_append(a, &ent, ret_index);
	free(text);
	return r;
}

int
cu_audit_sign_head(cu_audit *a, struct cu_audit_head *ret_head)
{
	if (a == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_sign_head: NULL argument");
	struct state stt;
	struct cu_audit_head h;
	bool found, begun = false;
	int r, r2;
	pthread_mutex_lock(&a->lock);
	if ((r = cu_db_begin(a->db, true)) < 0)
		goto out;
	begun = true;
	if ((r = state_read(a, &stt)) < 0 || (r = last_head(a, &h, &found)) < 0)
		goto out;
	if (found && h.size > stt.f.n) {
		r = cu_fail(CU_ERR_TAMPERED, "audit.db: the newest tree head covers more entries "
		            "than the log has; run custody audit verify");
		goto out;
	}
	if (found && h.size == stt.f.n) {
		r = 0; /* nothing new to sign */
		goto done;
	}
	if ((r = sign_head(a->s, a->key, &stt.f, stt.chain, &h)) < 0)
		goto out;
	if (head_bind(a->st_head_put, &h) < 0) {
		r = cu_db_fail(a->db, "storing a tree head");
		goto out;
	}
	h.id = sqlite3_last_insert_rowid(a->db->sql);
	r = 1;
done:
	begun = false;
	if ((r2 = cu_db_commit(a->db)) < 0) {
		r = r2;
		goto out;
	}
	if (ret_head != NULL)
		*ret_head = h;
out:
	if (begun)
		cu_db_rollback(a->db);
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* ---- verification ---- */

/* Walks the entries in index order, recomputing leaves, the chain and the
 * frontier, and remembering the first row that is out of sequence, malformed
 * or does not match its stored chain value. */
struct walk {
	const cu_store *s;
	cu_db *db;
	sqlite3_stmt *st;
	cu_sha256_ctx *sha;
	bool done;
	struct frontier f;               /* over the rows walked so far */
	uint8_t chain[CU_SHA256_LEN];    /* recomputed chain value after them */
	uint64_t first_bad;              /* NONE, or the first failing position */
	char reason[CU_AUDIT_REASON_MAX];
};

static void walk_fail(struct walk *w, uint64_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
walk_fail(struct walk *w, uint64_t pos, const char *fmt, ...)
{
	if (w->first_bad != NONE)
		return;
	w->first_bad = pos;
	va_list ap;
	va_start(ap, fmt);
	cu_vfmt_cut(w->reason, sizeof(w->reason), fmt, ap); /* a cut message is still a message */
	va_end(ap);
}

static bool
is_text(sqlite3_stmt *st, int col, const char **ret, size_t *ret_len, size_t max)
{
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return false;
	*ret = (const char *)sqlite3_column_text(st, col);
	*ret_len = (size_t)sqlite3_column_bytes(st, col);
	return *ret != NULL && *ret_len <= max;
}

/* One row: 1 walked, 0 at the end, or a negative cu_err. */
static int
walk_step(struct walk *w)
{
	if (w->done)
		return 0;
	int rc = sqlite3_step(w->st);
	if (rc == SQLITE_DONE) {
		w->done = true;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return cu_db_fail(w->db, "reading entries");
	uint64_t pos = w->f.n;
	if (pos >= CU_AUDIT_ENTRIES_MAX)
		return cu_fail(CU_ERR_LIMIT, "audit log: more than 2^40 entries");
	struct leaf l = {0};
	const char *chex = NULL;
	size_t chex_len = 0;
	uint8_t stored[CU_SHA256_LEN], lh[CU_SHA256_LEN];
	int64_t idx = sqlite3_column_int64(w->st, 0);
	bool ok = sqlite3_column_type(w->st, 0) == SQLITE_INTEGER &&
	          sqlite3_column_type(w->st, 1) == SQLITE_INTEGER &&
	          is_text(w->st, 2, &l.type, &l.type_len, CU_AUDIT_NAME_MAX) &&
	          is_text(w->st, 3, &l.actor, &l.actor_len, CU_AUDIT_NAME_MAX) &&
	          is_text(w->st, 4, &l.source, &l.source_len, CU_AUDIT_NAME_MAX) &&
	          is_text(w->st, 5, &l.detail, &l.detail_len, CU_AUDIT_DETAIL_MAX) &&
	          is_text(w->st, 6, &chex, &chex_len, 2 * CU_SHA256_LEN) &&
	          cu_unhex(chex, stored, CU_SHA256_LEN) == 0;
	l.index = (uint64_t)idx;
	l.time_us = sqlite3_column_int64(w->st, 1);
	if (idx != (int64_t)pos) {
		if (idx > (int64_t)pos)
			walk_fail(w, pos, "entry %llu is missing (index %lld is in its place)",
			          (unsigned long long)pos, (long long)idx);
		else
			walk_fail(w, pos, "entry index %lld is out of sequence (expected %llu)",
			          (long long)idx, (unsigned long long)pos);
	}
	if (!ok) {
		walk_fail(w, pos, "entry %llu is malformed (a column has the wrong type or length)",
		          (unsigned long long)pos);
		/* Keep walking so that the heads can still be counted; the
		 * verdict is already made. */
		memset(lh, 0, sizeof(lh));
	} else {
		int r = leaf_hash(w->sha, &l, lh);
		if (r < 0)
			return r;
	}
	int r = chain_step(w->chain, lh, w->chain);
	if (r < 0)
		return r;
	if (ok && memcmp(stored, w->chain, CU_SHA256_LEN) != 0)
		walk_fail(w, pos, "entry %llu does not match its chain value: edited, reordered, "
		          "inserted, or an earlier entry removed", (unsigned long long)pos);
	if ((r = frontier_push(&w->f, lh)) < 0)
		return r;
	return 1;
}

/* Walks up to n entries (fewer if the log ends). */
static int
walk_to(struct walk *w, uint64_t n)
{
	while (w->f.n < n) {
		int r = walk_step(w);
		if (r <= 0)
			return r;
	}
	return 0;
}

struct head_row {
	struct cu_audit_head h;
	bool parsed;
};

static void
head_read(sqlite3_stmt *st, struct head_row *hr)
{
	memset(hr, 0, sizeof(*hr));
	hr->h.id = sqlite3_column_int64(st, 0);
	int64_t size = sqlite3_column_int64(st, 1);
	hr->h.size = size < 0 ? 0 : (uint64_t)size;
	hr->h.time_us = sqlite3_column_int64(st, 2);
	const char *root, *chain, *kid, *sig;
	size_t n;
	hr->parsed = sqlite3_column_type(st, 1) == SQLITE_INTEGER && size >= 0 &&
	             sqlite3_column_type(st, 2) == SQLITE_INTEGER &&
	             is_text(st, 3, &root, &n, 2 * CU_SHA256_LEN) &&
	             cu_unhex(root, hr->h.root, CU_SHA256_LEN) == 0 &&
	             is_text(st, 4, &chain, &n, 2 * CU_SHA256_LEN) &&
	             cu_unhex(chain, hr->h.chain, CU_SHA256_LEN) == 0 &&
	             is_text(st, 5, &kid, &n, 2 * CU_SHA256_LEN) &&
	             cu_unhex(kid, hr->h.key_id, CU_SHA256_LEN) == 0 &&
	             is_text(st, 6, &sig, &n, 2 * CU_ED25519_SIG_LEN) &&
	             cu_unhex(sig, hr->h.signature, CU_ED25519_SIG_LEN) == 0;
}

void
cu_audit_report_free(struct cu_audit_report *r)
{
	free(r);
}

/* What the heads phase learns, for the verdict. proven: the largest size of
 * a valid head so far. A failing head is blamed on the walk's first failure
 * if that lies in the entries the head newly covers [proven, size), else on
 * the first of them (proven): see "Verification" in the doc. The first
 * failing head's blame is settled at the end, when the walk's first failure
 * is surely known; later ones' at once (the walk has reached their size if
 * they are validly signed, and an invalid one's size means nothing). */
struct heads {
	uint64_t proven, first_head_proven, first_head_size, head_blame;
	char head_reason[CU_AUDIT_REASON_MAX], first_reason[CU_AUDIT_REASON_MAX];
	int64_t newest_us;                       /* of the newest valid head, -1 none */
	bool have_bad;
};

/* Does the head's signature verify with the store's server key? */
static bool
head_signed(const cu_store *s, const struct cu_audit_head *h)
{
	uint8_t msg[HEAD_MSG_LEN];
	head_message(s, h, msg);
	return cu_ed25519_verify(cu_store_ident(s).signer->ed25519_pub, msg, sizeof(msg),
	                         h->signature) == 0;
}

/* Checks one head, walking the log up to its size: why[0] stays '\0' when
 * it is valid. 0, or a negative cu_err. */
static int
head_check(struct walk *w, const struct cu_audit_head *h, const struct head_row *hr,
           char *why, size_t why_size)
{
	const cu_store *s = w->s;
	uint8_t root[CU_SHA256_LEN];
	int r;
	/* the reasons are short constants and numbers: they fit, else they are cut */
	if (!hr->parsed) {
		cu_fmt_cut(why, why_size, "is malformed");
	} else if (!cu_ct_equal(h->key_id, cu_store_ident(s).signer->fingerprint, CU_SHA256_LEN)) {
		cu_fmt_cut(why, why_size, "is signed by another key than the store's server "
		           "certificate");
	} else if (!head_signed(s, h)) {
		cu_fmt_cut(why, why_size, "has an invalid signature");
	} else if (h->size < w->f.n) {
		cu_fmt_cut(why, why_size, "covers fewer entries than an earlier head");
	} else {
		if ((r = walk_to(w, h->size)) < 0)
			return r;
		if (w->f.n < h->size) {
			cu_fmt_cut(why, why_size, "covers %llu entries but the log has %llu",
			           (unsigned long long)h->size, (unsigned long long)w->f.n);
			/* the log ends early: the walk's failure is the first missing entry */
			walk_fail(w, w->f.n, "entry %llu is missing: tree head %lld covers %llu "
			          "entries, the log has %llu", (unsigned long long)w->f.n,
			          (long long)h->id, (unsigned long long)h->size,
			          (unsigned long long)w->f.n);
		} else if ((r = frontier_root(&w->f, root)) < 0)
			return r;
		else if (memcmp(root, h->root, CU_SHA256_LEN) != 0)
			cu_fmt_cut(why, why_size, "does not match entries 0..%lld (Merkle root)",
			           (long long)h->size - 1);
		else if (memcmp(w->chain, h->chain, CU_SHA256_LEN) != 0)
			cu_fmt_cut(why, why_size, "does not match entries 0..%lld (chain)",
			           (long long)h->size - 1);
	}
	return 0;
}

/* Heads phase: every head in the order they were signed. */
static int
check_heads(struct walk *w, sqlite3_stmt *hs, struct heads *hd, struct cu_audit_report *rep)
{
	int rc, r;
	while ((rc = sqlite3_step(hs)) == SQLITE_ROW) {
		struct head_row hr;
		head_read(hs, &hr);
		rep->heads++;
		const struct cu_audit_head *h = &hr.h;
		char why[200] = "";
		if ((r = head_check(w, h, &hr, why, sizeof(why))) < 0)
			return r;
		if (why[0] == '\0') {
			if (h->size > hd->proven)
				hd->proven = h->size;
			if (h->time_us > hd->newest_us)
				hd->newest_us = h->time_us;
			continue;
		}
		rep->bad_heads++;
		/* why is under 200 bytes: the reasons below fit CU_AUDIT_REASON_MAX */
		if (!hd->have_bad) {
			hd->have_bad = true;
			rep->first_bad_head = h->id;
			hd->first_head_proven = hd->proven;
			hd->first_head_size = h->size;
			cu_fmt_cut(hd->first_reason, sizeof(hd->first_reason),
			           "tree head %lld (size %llu) %s",
			           (long long)h->id, (unsigned long long)h->size, why);
			continue;
		}
		uint64_t b = w->first_bad != NONE && w->first_bad >= hd->proven &&
		             w->first_bad < h->size ? w->first_bad : hd->proven;
		if (b < hd->head_blame) {
			hd->head_blame = b;
			cu_fmt_cut(hd->head_reason, sizeof(hd->head_reason),
			           "tree head %lld (size %llu) %s",
			           (long long)h->id, (unsigned long long)h->size, why);
		}
	}
	if (rc != SQLITE_DONE)
		return cu_db_fail(w->db, "reading tree heads");
	return 0;
}

/* Unsigned entries: allowed only as the tail a crash leaves, no older than
 * the newest head and spanning at most one interval. *ret_bad: whether they
 * are more. */
static int
check_unsigned_tail(cu_db *db, const struct cu_audit_report *rep, int64_t newest_us,
                    bool *ret_bad)
{
	sqlite3_stmt *ts = NULL;
	int r = cu_db_prepare(db, "SELECT min(time_us), max(time_us) FROM entries WHERE idx >= ?",
	                      "reading entries", &ts);
	if (r < 0)
		return r;
	sqlite3_bind_int64(ts, 1, (int64_t)rep->signed_entries);
	if (sqlite3_step(ts) != SQLITE_ROW) {
		r = cu_db_fail(db, "reading entries");
	} else {
		int64_t lo = sqlite3_column_int64(ts, 0), hi = sqlite3_column_int64(ts, 1);
		int64_t floor_us = hi - CU_AUDIT_HEAD_INTERVAL_US > newest_us
		                           ? hi - CU_AUDIT_HEAD_INTERVAL_US : newest_us;
		*ret_bad = lo < floor_us - CU_AUDIT_UNSIGNED_SLACK_US;
	}
	sqlite3_finalize(ts);
	return r;
}

/* Verdict phase: the first failure of the heads and of the walk, an
 * unsigned tail too old, the certificate's chain. */
static int
audit_verdict(struct walk *w, const struct heads *hd, struct cu_audit_report *rep)
{
	const cu_store *s = w->s;
	uint64_t first = NONE;
	const char *why = NULL;
	char extra[CU_AUDIT_REASON_MAX];
	int r;
	if (hd->have_bad) {
		first = w->first_bad != NONE && w->first_bad >= hd->first_head_proven &&
		        w->first_bad < hd->first_head_size ? w->first_bad : hd->first_head_proven;
		why = hd->first_reason;
		if (hd->head_blame < first) {
			first = hd->head_blame;
			why = hd->head_reason;
		}
	}
	if (w->first_bad != NONE && w->first_bad <= first) {
		first = w->first_bad;
		why = w->reason;
	}
	bool old_tail = false;
	if (first == NONE && rep->entries > 0 && hd->newest_us < 0) {
		first = 0;
		why = "no valid tree head: the log's heads were removed";
	} else if (first == NONE && rep->unsigned_entries > 0) {
		if ((r = check_unsigned_tail(w->db, rep, hd->newest_us, &old_tail)) < 0)
			return r;
		if (old_tail) {
			first = rep->signed_entries;
			/* numbers and constant text: it fits */
			cu_fmt_cut(extra, sizeof(extra), "entries from %llu on are not under a signed "
			           "tree head though older than the last minute of the log: a head was "
			           "removed or entries were added", (unsigned long long)first);
			why = extra;
		}
	}
	int cr = cu_x509_verify_chain(cu_store_ident(s).cert_pem, cu_store_ident(s).cert_len,
	                              cu_store_ident(s).ca_pem, cu_store_ident(s).ca_len,
	                              cu_store_ident(s).created_us);
	if (cr < 0 && first == NONE) {
		first = 0;
		/* the detail is a message: cut at the reason's length, deliberately */
		cu_fmt_cut(extra, sizeof(extra), "the recording server certificate does not chain "
		           "to the site CA: %s", cu_error_detail());
		why = extra;
	}
	if (first != NONE) {
		rep->tampered = true;
		rep->first_bad_index = first;
		uint64_t p = hd->have_bad ? hd->first_head_proven : rep->signed_entries;
		rep->proven_entries = p < first ? p : first;
		/* why fits: every reason is at most CU_AUDIT_REASON_MAX */
		cu_fmt_cut(rep->reason, sizeof(rep->reason), "%s", why);
	}
	return 0;
}

static int
verify_run(cu_store *s, cu_db *db, struct cu_audit_report *rep)
{
	struct walk w = {.s = s, .db = db, .first_bad = NONE};
	struct heads hd = {.head_blame = NONE, .newest_us = -1};
	sqlite3_stmt *hs = NULL;
	int r;
	if ((r = cu_sha256_new(&w.sha)) < 0 || (r = chain_init(s, w.chain)) < 0)
		goto out;
	if ((r = cu_db_prepare(db, "SELECT idx, time_us, type, actor, source, detail, chain "
	                       "FROM entries ORDER BY idx", "reading the log", &w.st)) < 0 ||
	    (r = cu_db_prepare(db, "SELECT id, size, time_us, root, chain, key_id, signature "
	                       "FROM heads ORDER BY id", "reading the log", &hs)) < 0)
		goto out;
	if ((r = check_heads(&w, hs, &hd, rep)) < 0 || (r = walk_to(&w, CU_AUDIT_ENTRIES_MAX)) < 0)
		goto out;
	/* Any remaining row is past 2^40: walk_step reported it. */
	if (!w.done && (r = walk_step(&w)) < 0)
		goto out;
	uint64_t n = w.f.n;
	rep->entries = n;
	if ((r = frontier_root(&w.f, rep->root)) < 0)
		goto out;
	rep->signed_entries = hd.proven < n ? hd.proven : n;
	rep->unsigned_entries = n - rep->signed_entries;
	rep->newest_head_us = hd.newest_us;
	r = audit_verdict(&w, &hd, rep);
out:
	sqlite3_finalize(hs);
	sqlite3_finalize(w.st);
	cu_sha256_free(w.sha);
	return r;
}

int
cu_audit_verify(cu_store *s, struct cu_audit_report **ret)
{
	if (s == NULL || ret == NULL)
		return cu_fail(CU_ERR_INVAL, "cu_audit_verify: NULL argument");
	cu_db *db = NULL;
	int r = db_open(s, false, &db);
	if (r < 0)
		return r;
	struct cu_audit_report *rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		cu_db_close(db);
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	}
	rep->first_bad_head = -1;
	rep->newest_head_us = -1;
	memcpy(rep->signer_subject, cu_store_ident(s).signer->subject, sizeof(rep->signer_subject));
	memcpy(rep->signer_fp, cu_store_ident(s).signer->fingerprint, CU_SHA256_LEN);
	memcpy(rep->ca_subject, cu_store_ident(s).ca->subject, sizeof(rep->ca_subject));
	memcpy(rep->ca_fp, cu_store_ident(s).ca->fingerprint, CU_SHA256_LEN);
	/* One read transaction: a consistent snapshot while a server appends. */
	if ((r = cu_db_begin(db, false)) == 0) {
		r = verify_run(s, db, rep);
		cu_db_rollback(db); /* ends the read */
	}
	cu_db_close(db);
	if (r < 0) {
		free(rep);
		return r;
	}
	*ret = rep;
	return 0;
}

/* ---- export ---- */

static void
csv_field(FILE *out, const char *v, size_t n, bool last)
{
	fputc('"', out);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '"')
			fputc('"', out);
		fputc(v[i], out);
	}
	fputc('"', out);
	fputs(last ? "\r\n" : ",", out);
}

/* A text column as a JSON string; NULL column: JSON null. NULL return: not UTF-8. */
static json_t *
jtext(sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	if (v == NULL)
		return json_null();
	return json_stringn(v, (size_t)sqlite3_column_bytes(st, col));
}

/* The columns every reader of entries selects, in this order. */
#define ENTRY_COLUMNS "idx, time_us, type, actor, source, detail"

/* One entry row (ENTRY_COLUMNS) as compact JSON text {index, time, time_us,
 * type, actor, source, detail}, malloc'd into *ret; the detail as an object
 * when it parses (it always does in an intact log), else as the string it is. */
static int
entry_json(sqlite3_stmt *st, char **ret)
{
	int64_t idx = sqlite3_column_int64(st, 0), t = sqlite3_column_int64(st, 1);
	char iso[CU_TIME_ISO_MAX];
	cu_time_text(t, iso);
	const char *d = (const char *)sqlite3_column_text(st, 5);
	json_t *detail = d ? json_loadb(d, (size_t)sqlite3_column_bytes(st, 5), 0, NULL) : NULL;
	if (detail == NULL)
		detail = jtext(st, 5);
	json_t *o = json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o}", "index", (json_int_t)idx,
	                      "time", iso, "time_us", (json_int_t)t, "type", jtext(st, 2),
	                      "actor", jtext(st, 3), "source", jtext(st, 4), "detail", detail);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (text == NULL)
		return cu_fail(CU_ERR_FORMAT, "audit entry %lld cannot be written as JSON (not UTF-8?); "
		               "run custody audit verify", (long long)idx);
	*ret = text;
	return 0;
}

static int
export_entries(cu_db *db, int format, FILE *out)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	bool firstrow = true;
	if ((r = cu_db_prepare(db, "SELECT " ENTRY_COLUMNS " FROM entries ORDER BY idx",
	                       "reading entries", &st)) < 0)
		return r;
	if (format == CU_AUDIT_CSV)
		fputs("\"index\",\"time\",\"type\",\"actor\",\"source\",\"detail\"\r\n", out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (format == CU_AUDIT_CSV) {
			int64_t idx = sqlite3_column_int64(st, 0);
			char num[32], iso[CU_TIME_ISO_MAX];
			int k = snprintf(num, sizeof(num), "%lld", (long long)idx); /* 20 digits: fits */
			if (k < 0 || (size_t)k >= sizeof(num)) {
				r = cu_fail(CU_ERR_LIMIT, "audit entry index too long");
				goto out;
			}
			cu_time_text(sqlite3_column_int64(st, 1), iso);
			csv_field(out, num, strlen(num), false);
			csv_field(out, iso, strlen(iso), false);
			for (int c = 2; c <= 5; c++) {
				const char *v = (const char *)sqlite3_column_text(st, c);
				csv_field(out, v ? v : "", v ? (size_t)sqlite3_column_bytes(st, c) : 0, c == 5);
			}
			continue;
		}
		char *text;
		if ((r = entry_json(st, &text)) < 0)
			goto out;
		fprintf(out, "%s\n    %s", firstrow ? "" : ",", text);
		free(text);
		firstrow = false;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(db, "reading entries");
out:
	sqlite3_finalize(st);
	return r;
}

/* Binds a text filter, or NULL (no filter) when absent. */
static int
bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int
cu_audit_page(cu_store *s, const struct cu_audit_query *q, FILE *out,
              struct cu_audit_page *ret)
{
	if (s == NULL || q == NULL || out == NULL || ret == NULL || q->limit == 0 ||
	    q->limit > CU_AUDIT_PAGE_MAX || (q->has_before && q->before > CU_AUDIT_ENTRIES_MAX))
		return cu_fail(CU_ERR_INVAL, "cu_audit_page: bad arguments");
	const char *const texts[] = {q->type, q->actor, q->text};
	for (size_t i = 0; i < 3; i++)
		if (texts[i] != NULL && (strlen(texts[i]) == 0 || strlen(texts[i]) > CU_AUDIT_NAME_MAX))
			return cu_fail(CU_ERR_INVAL, "cu_audit_page: a filter is empty or longer than "
			               "%d bytes", CU_AUDIT_NAME_MAX);
	cu_db *db = NULL;
	sqlite3_stmt *st = NULL;
	struct cu_audit_page pg = {0};
	int r = db_open(s, false, &db), rc;
	if (r < 0)
		return r;
	/* newest first from before; instr over lower() is an ASCII-case-blind
	 * substring search in the detail's canonical JSON text */
	if ((r = cu_db_prepare(db, "SELECT " ENTRY_COLUMNS " FROM entries WHERE "
	                       "(?1 IS NULL OR idx < ?1) AND (?2 IS NULL OR type = ?2) AND "
	                       "(?3 IS NULL OR actor = ?3) AND (?4 IS NULL OR time_us >= ?4) AND "
	                       "(?5 IS NULL OR time_us <= ?5) AND "
	                       "(?6 IS NULL OR instr(lower(detail), lower(?6)) > 0) "
	                       "ORDER BY idx DESC LIMIT ?7", "reading entries", &st)) < 0)
		goto out;
	if ((q->has_before ? sqlite3_bind_int64(st, 1, (sqlite3_int64)q->before)
	                   : sqlite3_bind_null(st, 1)) != SQLITE_OK ||
	    bind_opt_text(st, 2, q->type) != SQLITE_OK || bind_opt_text(st, 3, q->actor) != SQLITE_OK ||
	    (q->from_us != 0 ? sqlite3_bind_int64(st, 4, q->from_us) : sqlite3_bind_null(st, 4))
	        != SQLITE_OK ||
	    (q->to_us != 0 ? sqlite3_bind_int64(st, 5, q->to_us) : sqlite3_bind_null(st, 5))
	        != SQLITE_OK ||
	    bind_opt_text(st, 6, q->text) != SQLITE_OK ||
	    /* one more than asked: whether more match */
	    sqlite3_bind_int64(st, 7, (sqlite3_int64)q->limit + 1) != SQLITE_OK) {
		r = cu_db_fail(db, "reading entries");
		goto out;
	}
	fputc('[', out);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (pg.count == q->limit) {
			pg.more = true;
			break;
		}
		char *text;
		if ((r = entry_json(st, &text)) < 0)
			goto out;
		fprintf(out, "%s%s", pg.count ? "," : "", text);
		free(text);
		pg.next_before = (uint64_t)sqlite3_column_int64(st, 0);
		pg.count++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		r = cu_db_fail(db, "reading entries");
		goto out;
	}
	fputc(']', out);
	errno = 0;
	if (fflush(out) != 0 || ferror(out)) {
		r = errno ? cu_fail_errno(errno, "writing the entries")
		          : cu_fail(CU_ERR_IO, "writing the entries failed");
		goto out;
	}
	*ret = pg;
out:
	sqlite3_finalize(st);
	cu_db_close(db);
	return r;
}

static int
export_heads(cu_db *db, FILE *out)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;
	bool firstrow = true;
	if ((r = cu_db_prepare(db, "SELECT id, size, time_us, root, chain, key_id, signature "
	                       "FROM heads ORDER BY id", "reading tree heads", &st)) < 0)
		return r;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char iso[CU_TIME_ISO_MAX];
		int64_t t = sqlite3_column_int64(st, 2);
		cu_time_text(t, iso);
		json_t *o = json_pack("{s:I, s:I, s:s, s:I, s:o, s:o, s:o, s:o}", "id",
		                      (json_int_t)sqlite3_column_int64(st, 0), "size",
		                      (json_int_t)sqlite3_column_int64(st, 1), "time", iso, "time_us",
		                      (json_int_t)t, "root", jtext(st, 3), "chain", jtext(st, 4),
		                      "key_id", jtext(st, 5), "signature", jtext(st, 6));
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(o);
		if (text == NULL) {
			r = cu_fail(CU_ERR_FORMAT, "a tree head cannot be written as JSON; run custody "
			            "audit verify");
			goto out;
		}
		fprintf(out, "%s\n    %s", firstrow ? "" : ",", text);
		free(text);
		firstrow = false;
	}
	if (rc != SQLITE_DONE)
		r = cu_db_fail(db, "reading tree heads");
out:
	sqlite3_finalize(st);
	return r;
}

int
cu_audit_export(cu_store *s, int format, FILE *out)
{
	if (s == NULL || out == NULL || (format != CU_AUDIT_CSV && format != CU_AUDIT_JSON))
		return cu_fail(CU_ERR_INVAL, "cu_audit_export: bad arguments");
	cu_db *db = NULL;
	int r = db_open(s, false, &db);
	if (r < 0)
		return r;
	if ((r = cu_db_begin(db, false)) < 0)
		goto out;
	if (format == CU_AUDIT_JSON)
		fprintf(out, "{\n  \"format\": \"custody-audit-export\",\n  \"version\": 1,\n"
		        "  \"entries\": [");
	if ((r = export_entries(db, format, out)) < 0)
		goto end;
	if (format == CU_AUDIT_JSON) {
		fprintf(out, "\n  ],\n  \"tree_heads\": [");
		if ((r = export_heads(db, out)) < 0)
			goto end;
		fprintf(out, "\n  ]\n}\n");
	}
	errno = 0;
	if (fflush(out) != 0 || ferror(out))
		r = errno ? cu_fail_errno(errno, "writing the export")
		          : cu_fail(CU_ERR_IO, "writing the export failed");
end:
	cu_db_rollback(db); /* ends the read */
out:
	cu_db_close(db);
	return r;
}
