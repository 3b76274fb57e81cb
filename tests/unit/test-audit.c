/* Unit tests of the audit log: RFC 9162 Merkle tree hashes against known
 * answers and a recursive reference, the leaf encoding, append/sign/verify,
 * refusals, concurrent appends, tampering found at the exact entry (with sparse
 * and with dense tree heads), heads signed with another key refused, and the
 * checked-in test vector (tests/data/audit-vector). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custody/audit.h"
#include "custody/crypto.h"
#include "custody/error.h"
#include "custody/store.h"
#include "custody/file.h"
#include "custody/parse.h"

#define PW "unit-test-password"
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static char tmproot[] = "/tmp/custody-audit-unit-XXXXXX";
static int nstore;

/* The lowest Argon2id cost the store accepts, so the tests stay quick. */
static const struct cu_argon2_params quick_kdf = {1, CU_ARGON2_M_MIN, 1};

static void
make_store(char *dir, size_t len)
{
	assert_int_equal(cu_path(dir, len, "%s/s%d", tmproot, ++nstore), 0);
	struct cu_store_create_opts o = {.encryption = CU_ENC_NONE, .kdf = quick_kdf};
	assert_int_equal(cu_store_create(dir, PW, strlen(PW), &o), 0);
}

static cu_store *
open_store(const char *dir, bool keys)
{
	cu_store *s;
	assert_int_equal(cu_store_open(dir, keys ? PW : NULL, keys ? strlen(PW) : 0, &s), 0);
	return s;
}

static void
sha(const void *p, size_t n, uint8_t out[static CU_SHA256_LEN])
{
	assert_int_equal(cu_sha256(n ? p : "", n, out), 0);
}

static void
node(const uint8_t l[static 32], const uint8_t r[static 32], uint8_t out[static 32])
{
	uint8_t b[65];
	b[0] = 1;
	memcpy(b + 1, l, 32);
	memcpy(b + 33, r, 32);
	sha(b, sizeof(b), out);
}

static void
leaf_of(const void *data, size_t n, uint8_t out[static 32])
{
	uint8_t b[64];
	assert_true(n < sizeof(b));
	b[0] = 0;
	memcpy(b + 1, data, n);
	sha(b, n + 1, out);
}

/* The reference: RFC 9162 §2.1.1 written recursively, split at the largest
 * power of two smaller than n. */
static void
ref_mth(const uint8_t *leaves, size_t n, uint8_t out[static 32])
{
	if (n == 0) {
		sha("", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves, 32);
		return;
	}
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	uint8_t l[32], r[32];
	ref_mth(leaves, k, l);
	ref_mth(leaves + k * 32, n - k, r);
	node(l, r, out);
}

static void
hex_is(const uint8_t h[static 32], const char *want)
{
	char got[65];
	cu_hex(h, 32, got);
	assert_string_equal(got, want);
}

/* ---- Merkle tree ---- */

static void
test_merkle_known_answers(void **state)
{
	(void)state;
	/* The leaf inputs of the Certificate Transparency test vectors
	 * (RFC 6962 / RFC 9162 use the same tree hash). */
	static const struct {
		const char *data;
		size_t len;
	} in[8] = {
		{"", 0}, {"\x00", 1}, {"\x10", 1}, {"\x20\x21", 2}, {"\x30\x31", 2},
		{"\x40\x41\x42\x43", 4}, {"\x50\x51\x52\x53\x54\x55\x56\x57", 8},
		{"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16},
	};
	uint8_t L[8][32];
	for (int i = 0; i < 8; i++)
		leaf_of(in[i].data, in[i].len, L[i]);

	/* By hand, following the RFC's definition. */
	uint8_t want[9][32], a[32], b[32], c[32], d[32];
	sha("", 0, want[0]);
	memcpy(want[1], L[0], 32);
	node(L[0], L[1], want[2]);
	node(want[2], L[2], want[3]);
	node(L[2], L[3], a);
	node(want[2], a, b); /* MTH of 4 */
	node(b, L[4], want[5]);
	node(L[4], L[5], c);
	node(L[6], L[7], d);
	node(c, d, a);
	node(b, a, want[8]);

	static const int sizes[] = {0, 1, 2, 3, 5, 8};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int n = sizes[i];
		uint8_t got[32], ref[32];
		assert_int_equal(cu_audit_tree_root(&L[0][0], (uint64_t)n, got), 0);
		ref_mth(&L[0][0], (size_t)n, ref);
		assert_memory_equal(got, want[n], 32);
		assert_memory_equal(ref, want[n], 32);
	}
	/* and the published answers */
	static const char *const ct[9] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	for (int n = 0; n <= 8; n++) {
		uint8_t got[32];
		assert_int_equal(cu_audit_tree_root(&L[0][0], (uint64_t)n, got), 0);
		hex_is(got, ct[n]);
	}
}

static void
test_merkle_incremental_vs_recursive(void **state)
{
	(void)state;
	enum { N = 200 };
	static uint8_t L[N][32];
	for (int i = 0; i < N; i++) {
		uint32_t v = (uint32_t)i * 2654435761u;
		leaf_of(&v, sizeof(v), L[i]);
	}
	for (int n = 0; n <= N; n++) {
		uint8_t got[32], ref[32];
		assert_int_equal(cu_audit_tree_root(&L[0][0], (uint64_t)n, got), 0);
		ref_mth(&L[0][0], (size_t)n, ref);
		assert_memory_equal(got, ref, 32);
	}
}

/* ---- leaf encoding ---- */

static void
test_leaf_encoding(void **state)
{
	(void)state;
	struct cu_audit_entry e = {
		.time_us = T0 + 1, .type = "auth.login", .actor = "alice", .source = "10.0.0.7",
		.detail = "{\"method\":\"password\"}",
	};
	/* docs/formats/audit-log.md, "Leaf": byte by byte */
	uint8_t b[256];
	size_t n = 0;
	b[n++] = 0x00; /* RFC 9162 leaf prefix */
	b[n++] = 1;    /* leaf version */
	uint64_t idx = 42, t = (uint64_t)(T0 + 1);
	for (int i = 0; i < 8; i++)
		b[n++] = (uint8_t)(idx >> (8 * i));
	for (int i = 0; i < 8; i++)
		b[n++] = (uint8_t)(t >> (8 * i));
	const char *f[3] = {e.type, e.actor, e.source};
	for (int i = 0; i < 3; i++) {
		size_t l = strlen(f[i]);
		b[n++] = (uint8_t)l;
		b[n++] = 0;
		memcpy(b + n, f[i], l);
		n += l;
	}
	size_t dl = strlen(e.detail);
	b[n++] = (uint8_t)dl;
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 0;
	memcpy(b + n, e.detail, dl);
	n += dl;
	uint8_t want[32], got[32];
	sha(b, n, want);
	assert_int_equal(cu_audit_leaf_hash(42, &e, got), 0);
	assert_memory_equal(got, want, 32);
	/* every field counts */
	e.time_us++;
	assert_int_equal(cu_audit_leaf_hash(42, &e, got), 0);
	assert_memory_not_equal(got, want, 32);
	e.time_us--;
	assert_int_equal(cu_audit_leaf_hash(43, &e, got), 0);
	assert_memory_not_equal(got, want, 32);
	/* moving a byte from one field to the next changes the hash */
	struct cu_audit_entry e2 = e;
	e2.actor = "alic";
	e2.source = "e10.0.0.7";
	assert_int_equal(cu_audit_leaf_hash(42, &e2, got), 0);
	assert_memory_not_equal(got, want, 32);
}

/* ---- the log ---- */

static void
db_exec(const char *store, const char *sql)
{
	char path[4200];
	assert_int_equal(cu_path(path, sizeof(path), "%s/audit.db", store), 0);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err ? err : "?");
	sqlite3_close(db);
}

static void
db_text(const char *store, const char *sql, char *out, size_t len)
{
	char path[4200];
	assert_int_equal(cu_path(path, sizeof(path), "%s/audit.db", store), 0);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *v = (const char *)sqlite3_column_text(st, 0);
	assert_non_null(v);
	assert_true(strlen(v) < len);
	memcpy(out, v, strlen(v) + 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* What an attacker without the signing key can do after editing rows:
 * recompute every leaf and the whole chain column, as the format describes. */
static void
rechain(const char *store)
{
	char path[4200], idhex[40];
	assert_int_equal(cu_path(path, sizeof(path), "%s/audit.db", store), 0);
	db_text(store, "SELECT value FROM meta WHERE key = 'store_id'", idhex, sizeof(idhex));
	uint8_t buf[64], chain[32];
	static const char label[] = "custody/v1/audit-chain";
	memcpy(buf, label, sizeof(label));
	assert_int_equal(cu_unhex(idhex, buf + sizeof(label), 16), 0);
	sha(buf, sizeof(label) + 16, chain);
	sqlite3 *db;
	sqlite3_stmt *st, *up;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT idx, time_us, type, actor, source, detail "
	                                    "FROM entries ORDER BY idx", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE entries SET chain = ? WHERE idx = ?", -1,
	                                    &up, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0);
		struct cu_audit_entry e = {
			.time_us = sqlite3_column_int64(st, 1),
			.type = (const char *)sqlite3_column_text(st, 2),
			.actor = (const char *)sqlite3_column_text(st, 3),
			.source = (const char *)sqlite3_column_text(st, 4),
			.detail = (const char *)sqlite3_column_text(st, 5),
		};
		uint8_t two[64];
		memcpy(two, chain, 32);
		assert_int_equal(cu_audit_leaf_hash((uint64_t)idx, &e, two + 32), 0);
		sha(two, 64, chain);
		char hex[65];
		cu_hex(chain, 32, hex);
		sqlite3_bind_text(up, 1, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 2, idx);
		assert_int_equal(sqlite3_step(up), SQLITE_DONE);
		sqlite3_reset(up);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	sqlite3_close(db);
}

static struct cu_audit_report *
verify(const char *dir)
{
	cu_store *s = open_store(dir, false);
	struct cu_audit_report *rep;
	assert_int_equal(cu_audit_verify(s, &rep), 0);
	cu_store_close(s);
	return rep;
}

static void
expect_bad(const char *dir, uint64_t index, const char *words)
{
	struct cu_audit_report *rep = verify(dir);
	if (!rep->tampered)
		fail_msg("expected tampering at %llu, got intact", (unsigned long long)index);
	if (rep->first_bad_index != index || strstr(rep->reason, words) == NULL)
		fail_msg("expected %llu (%s), got %llu: %s", (unsigned long long)index, words,
		         (unsigned long long)rep->first_bad_index, rep->reason);
	cu_audit_report_free(rep);
}

static void
expect_intact(const char *dir, uint64_t entries, uint64_t unsigned_entries)
{
	struct cu_audit_report *rep = verify(dir);
	if (rep->tampered)
		fail_msg("expected intact: %llu: %s", (unsigned long long)rep->first_bad_index,
		         rep->reason);
	assert_int_equal(rep->entries, entries);
	assert_int_equal(rep->unsigned_entries, unsigned_entries);
	assert_int_equal(rep->bad_heads, 0);
	cu_audit_report_free(rep);
}

/* Appends n entries; signs a head after every `every` entries (0: never). */
static void
fill(const char *dir, int n, int every)
{
	cu_store *s = open_store(dir, true);
	cu_audit *a;
	assert_int_equal(cu_audit_open(s, &a), 0);
	for (int i = 0; i < n; i++) {
		char detail[96], actor[32];
		snprintf(detail, sizeof(detail), "{\"n\": %d, \"camera\": \"cam%d\", \"b\": [1, 2]}", i,
		         i % 3);
		snprintf(actor, sizeof(actor), "user%d", i % 4);
		struct cu_audit_entry e = {
			.type = i % 2 ? "auth.login" : "export", .actor = actor, .source = "10.1.2.3",
			.detail = detail,
		};
		uint64_t idx;
		assert_int_equal(cu_audit_append(a, &e, &idx), 0);
		assert_int_equal(idx, (uint64_t)i + 0);
		if (every > 0 && (i + 1) % every == 0)
			assert_int_equal(cu_audit_sign_head(a, NULL), 1);
	}
	cu_audit_close(a);
	cu_store_close(s);
}

static void
test_append_sign_verify(void **state)
{
	(void)state;
	char dir[4096];
	make_store(dir, sizeof(dir));
	cu_store *s = open_store(dir, false);
	struct cu_audit_report *rep;
	cu_audit *a = NULL;
	assert_int_equal(cu_audit_verify(s, &rep), CU_ERR_NOTFOUND);
	assert_int_equal(cu_audit_open(s, &a), CU_ERR_PASSWORD);
	cu_store_close(s);

	s = open_store(dir, true);
	assert_int_equal(cu_audit_open(s, &a), 0);
	struct cu_audit_head h;
	/* the creation head (size 0) already covers the empty log */
	assert_int_equal(cu_audit_sign_head(a, &h), 0);
	assert_int_equal(h.size, 0);
	uint8_t leaves[20][32];
	for (int i = 0; i < 20; i++) {
		char detail[64];
		snprintf(detail, sizeof(detail), "{ \"z\": %d, \"a\": \"x\" }", i);
		struct cu_audit_entry e = {
			.time_us = T0 + i, .type = "user.add", .actor = "admin", .source = "cli",
			.detail = detail,
		};
		uint64_t idx;
		assert_int_equal(cu_audit_append(a, &e, &idx), 0);
		assert_int_equal(idx, (uint64_t)i);
		char canon[64];
		snprintf(canon, sizeof(canon), "{\"a\":\"x\",\"z\":%d}", i);
		e.detail = canon;
		assert_int_equal(cu_audit_leaf_hash(idx, &e, leaves[i]), 0);
	}
	assert_int_equal(cu_audit_sign_head(a, &h), 1);
	assert_int_equal(h.size, 20);
	uint8_t root[32];
	assert_int_equal(cu_audit_tree_root(&leaves[0][0], 20, root), 0);
	assert_memory_equal(h.root, root, 32);
	assert_int_equal(cu_audit_sign_head(a, &h), 0); /* nothing new */

	/* refusals */
	struct cu_audit_entry bad[] = {
		{.type = "Auth.Login"}, {.type = ".auth"}, {.type = "auth."}, {.type = "a..b"},
		{.type = ""}, {.type = NULL},
		{.type = "x", .actor = "bad\nname"}, {.type = "x", .actor = ""},
		{.type = "x", .source = "\xff\xfe"},
		{.type = "x", .detail = "[1, 2]"}, {.type = "x", .detail = "{\"a\": 1, \"a\": 2}"},
		{.type = "x", .detail = "{\"a\": 1} x"}, {.type = "x", .detail = "nope"},
		{.type = "x", .time_us = -5},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cu_audit_append(a, &bad[i], NULL), CU_ERR_INVAL);
	char *big = malloc(CU_AUDIT_DETAIL_MAX + 16);
	assert_non_null(big);
	memset(big, ' ', CU_AUDIT_DETAIL_MAX + 8);
	memcpy(big, "{\"a\": 1}", 8);
	big[CU_AUDIT_DETAIL_MAX + 8] = '\0';
	struct cu_audit_entry e = {.type = "x", .detail = big};
	assert_int_equal(cu_audit_append(a, &e, NULL), CU_ERR_LIMIT);
	char name[CU_AUDIT_NAME_MAX + 2];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	e = (struct cu_audit_entry){.type = name};
	assert_int_equal(cu_audit_append(a, &e, NULL), CU_ERR_INVAL);
	free(big);

	/* appended but not yet signed: intact, reported */
	e = (struct cu_audit_entry){.type = "auth.logout", .actor = "alice"};
	uint64_t idx;
	assert_int_equal(cu_audit_append(a, &e, &idx), 0);
	assert_int_equal(idx, 20);
	cu_audit_close(a);
	cu_store_close(s);
	char v[128];
	db_text(dir, "SELECT detail FROM entries WHERE idx = 3", v, sizeof(v));
	assert_string_equal(v, "{\"a\":\"x\",\"z\":3}");
	db_text(dir, "SELECT actor || '|' || source || '|' || detail FROM entries WHERE idx = 20", v,
	        sizeof(v));
	assert_string_equal(v, "alice|-|{}");

	rep = verify(dir);
	assert_false(rep->tampered);
	assert_int_equal(rep->entries, 21);
	assert_int_equal(rep->heads, 2);
	assert_int_equal(rep->signed_entries, 20);
	assert_int_equal(rep->unsigned_entries, 1);
	cu_audit_report_free(rep);
	/* an unsigned entry dated well before the newest head is refused, even
	 * with its chain value made to match */
	char saved[4200], cmd[8500];
	assert_int_equal(cu_path(saved, sizeof(saved), "%s.saved", dir), 0);
	snprintf(cmd, sizeof(cmd), "cp %s/audit.db %s", dir, saved);
	assert_int_equal(system(cmd), 0);
	db_exec(dir, "UPDATE entries SET time_us = 1767225600000000 WHERE idx = 20");
	expect_bad(dir, 20, "chain value");
	rechain(dir);
	expect_bad(dir, 20, "not under a signed tree head");
	/* a writer refuses to build on a log changed behind its back */
	db_exec(dir, "DELETE FROM entries WHERE idx = 20");
	s = open_store(dir, true);
	assert_int_equal(cu_audit_open(s, &a), CU_ERR_TAMPERED);
	cu_store_close(s);
	snprintf(cmd, sizeof(cmd), "cp %s %s/audit.db", saved, dir);
	assert_int_equal(system(cmd), 0);

	/* the export parses */
	s = open_store(dir, false);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	assert_non_null(f);
	assert_int_equal(cu_audit_export(s, CU_AUDIT_JSON, f), 0);
	fclose(f);
	json_error_t jerr;
	json_t *j = json_loads(buf, 0, &jerr);
	if (j == NULL)
		fail_msg("export JSON: %s", jerr.text);
	assert_int_equal(json_array_size(json_object_get(j, "entries")), 21);
	assert_int_equal(json_array_size(json_object_get(j, "tree_heads")), 2);
	json_t *e3 = json_array_get(json_object_get(j, "entries"), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e3, "detail"), "z")), 3);
	assert_string_equal(json_string_value(json_object_get(e3, "time")),
	                    "2026-01-01T00:00:00.000003Z");
	json_decref(j);
	free(buf);
	f = open_memstream(&buf, &blen);
	assert_int_equal(cu_audit_export(s, CU_AUDIT_CSV, f), 0);
	fclose(f);
	assert_non_null(strstr(buf, "\"3\",\"2026-01-01T00:00:00.000003Z\",\"user.add\",\"admin\","
	                       "\"cli\",\"{\"\"a\"\":\"\"x\"\",\"\"z\"\":3}\"\r\n"));
	free(buf);
	cu_store_close(s);
}

/* One page of the log, parsed; the call must work. */
static json_t *
page(cu_store *s, const struct cu_audit_query *q, struct cu_audit_page *pg)
{
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	assert_non_null(f);
	assert_int_equal(cu_audit_page(s, q, f, pg), 0);
	fclose(f);
	json_t *j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), pg->count);
	free(buf);
	return j;
}

static int64_t
index_at(json_t *j, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(j, i), "index"));
}

static void
test_page(void **state)
{
	(void)state;
	char dir[4096];
	make_store(dir, sizeof(dir));
	fill(dir, 30, 10);    /* odd: auth.login, even: export; actor user(i%4); "cam(i%3)" */
	cu_store *s = open_store(dir, false);
	struct cu_audit_page pg;
	/* newest first, 7 a page: every entry once, in order, in 5 pages */
	struct cu_audit_query q = {.limit = 7};
	int64_t want = 30;
	int pages = 0;
	for (;;) {
		json_t *j = page(s, &q, &pg);
		for (size_t i = 0; i < json_array_size(j); i++)
			assert_int_equal(index_at(j, i), --want);
		json_decref(j);
		pages++;
		if (!pg.more)
			break;
		assert_int_equal(pg.next_before, (uint64_t)want);
		q.has_before = true;
		q.before = pg.next_before;
	}
	assert_int_equal(want, 0);
	assert_int_equal(pages, 5);
	/* an exact page: no "more" */
	q = (struct cu_audit_query){.limit = 30};
	json_decref(page(s, &q, &pg));
	assert_int_equal(pg.count, 30);
	assert_false(pg.more);
	/* type and actor exactly: i odd and i % 4 == 1 */
	q = (struct cu_audit_query){.limit = 100, .type = "auth.login", .actor = "user1"};
	json_t *j = page(s, &q, &pg);
	assert_int_equal(json_array_size(j), 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(index_at(j, i), 29 - 4 * (int64_t)i);
	json_t *newest = json_incref(json_array_get(j, 0));
	json_decref(j);
	q.type = "auth";                     /* not a prefix match */
	json_decref(page(s, &q, &pg));
	assert_int_equal(pg.count, 0);
	/* words in the detail, ASCII case ignored: i % 3 == 2 */
	q = (struct cu_audit_query){.limit = 100, .text = "CAM2"};
	j = page(s, &q, &pg);
	assert_int_equal(json_array_size(j), 10);
	assert_int_equal(index_at(j, 0), 29);
	assert_int_equal(index_at(j, 9), 2);
	json_decref(j);
	/* times, inclusive */
	int64_t t = json_integer_value(json_object_get(newest, "time_us"));
	q = (struct cu_audit_query){.limit = 100, .from_us = t, .to_us = t};
	j = page(s, &q, &pg);
	assert_true(pg.count >= 1);
	assert_true(json_equal(json_array_get(j, 0), newest));
	json_decref(j);
	json_decref(newest);
	/* before 0: nothing; bounds */
	q = (struct cu_audit_query){.limit = 5, .has_before = true, .before = 0};
	json_decref(page(s, &q, &pg));
	assert_int_equal(pg.count, 0);
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);
	struct cu_audit_query bad[] = {
		{.limit = 0}, {.limit = CU_AUDIT_PAGE_MAX + 1}, {.limit = 5, .type = ""},
		{.limit = 5, .has_before = true, .before = CU_AUDIT_ENTRIES_MAX + 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cu_audit_page(s, &bad[i], f, &pg), CU_ERR_INVAL);
	fclose(f);
	free(buf);
	cu_store_close(s);
}

struct appender {
	cu_audit *a;
	int id, n;
};

static void *
append_thread(void *p)
{
	struct appender *ap = p;
	for (int i = 0; i < ap->n; i++) {
		char d[64];
		snprintf(d, sizeof(d), "{\"thread\": %d, \"i\": %d}", ap->id, i);
		struct cu_audit_entry e = {.type = "view.live", .actor = "viewer", .detail = d};
		if (cu_audit_append(ap->a, &e, NULL) != 0)
			return (void *)1;
		if (i % 10 == 0 && cu_audit_sign_head(ap->a, NULL) < 0)
			return (void *)1;
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	(void)state;
	char dir[4096];
	make_store(dir, sizeof(dir));
	cu_store *s = open_store(dir, true);
	cu_audit *a, *b;
	assert_int_equal(cu_audit_open(s, &a), 0);
	assert_int_equal(cu_audit_open(s, &b), 0); /* a second connection, as another process */
	pthread_t t[4];
	struct appender ap[4];
	for (int i = 0; i < 4; i++) {
		ap[i] = (struct appender){.a = i % 2 ? b : a, .id = i, .n = 40};
		assert_int_equal(pthread_create(&t[i], NULL, append_thread, &ap[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	assert_true(cu_audit_sign_head(a, NULL) >= 0);
	cu_audit_close(a);
	cu_audit_close(b);
	cu_store_close(s);
	expect_intact(dir, 160, 0);
}

/* Tampering through SQL, each on a fresh log. dense: a head after every
 * entry; otherwise one every 10 entries, so the stored chain must find the
 * exact entry between two heads. rewrite: the attacker also recomputes the
 * whole chain column. */
static void
tamper_case2(bool dense, const char *sql, bool rewrite, uint64_t want, const char *words)
{
	char dir[4096];
	make_store(dir, sizeof(dir));
	fill(dir, 30, dense ? 1 : 10);
	expect_intact(dir, 30, 0);
	db_exec(dir, sql);
	if (rewrite)
		rechain(dir);
	expect_bad(dir, want, words);
}

static void
tamper_case(bool dense, const char *sql, uint64_t want, const char *words)
{
	tamper_case2(dense, sql, false, want, words);
}

static void
test_tamper(void **state)
{
	(void)state;
	for (int dense = 0; dense <= 1; dense++) {
		tamper_case(dense, "UPDATE entries SET detail = '{\"n\":13}' WHERE idx = 13", 13,
		            "chain");
		tamper_case(dense, "UPDATE entries SET actor = 'mallory' WHERE idx = 0", 0, "chain");
		tamper_case(dense, "UPDATE entries SET time_us = time_us + 1 WHERE idx = 27", 27,
		            "chain");
		tamper_case(dense, "DELETE FROM entries WHERE idx = 14", 14, "missing");
		tamper_case(dense, "DELETE FROM entries WHERE idx = 29", 29, "missing");
		/* reorder: entries 5 and 6 trade places */
		tamper_case(dense, "UPDATE entries SET idx = -1 WHERE idx = 5;"
		            "UPDATE entries SET idx = 5 WHERE idx = 6;"
		            "UPDATE entries SET idx = 6 WHERE idx = -1;", 5, "chain");
		/* insert at 8: shift the rest up, copy a row in as the new 8 */
		tamper_case(dense, "UPDATE entries SET idx = -idx - 100 WHERE idx >= 8;"
		            "UPDATE entries SET idx = -idx - 99 WHERE idx < 0;"
		            "INSERT INTO entries SELECT 8, time_us, type, 'mallory', source, detail, "
		            "chain FROM entries WHERE idx = 9;", 8, "chain");
		/* the chain column alone */
		tamper_case(dense, "UPDATE entries SET chain = (SELECT chain FROM entries WHERE idx = 3) "
		            "WHERE idx = 4", 4, "chain");
	}
	/* An attacker who also rewrites the chain column consistently is still
	 * caught by the signed heads: with a head per entry at the exact entry,
	 * with a head every 10 entries at the first entry after the last good
	 * head (the bound the format documents). */
	tamper_case2(true, "UPDATE entries SET detail = '{}' WHERE idx = 13", true, 13, "Merkle");
	tamper_case2(false, "UPDATE entries SET detail = '{}' WHERE idx = 13", true, 10, "Merkle");
	tamper_case2(true, "DELETE FROM entries WHERE idx = 17; UPDATE entries SET idx = -idx "
	             "WHERE idx > 17; UPDATE entries SET idx = -idx - 1 WHERE idx < 0", true, 17, "tree head");
	tamper_case2(true, "UPDATE entries SET idx = -1 WHERE idx = 5;"
	             "UPDATE entries SET idx = 5 WHERE idx = 6;"
	             "UPDATE entries SET idx = 6 WHERE idx = -1;", true, 5, "Merkle");
	/* tree heads themselves */
	tamper_case(true, "UPDATE heads SET root = '00' || substr(root, 3) WHERE size = 12", 11,
	            "tree head");
	tamper_case(true, "UPDATE heads SET signature = '00' || substr(signature, 3) "
	            "WHERE size = 30", 29, "invalid signature");
	tamper_case(true, "UPDATE heads SET size = 25 WHERE size = 20", 19, "invalid signature");
	tamper_case(false, "UPDATE heads SET size = 25 WHERE size = 20", 10, "invalid signature");
	/* all heads removed */
	tamper_case(false, "DELETE FROM heads", 0, "no valid tree head");
}

static void
test_other_key(void **state)
{
	(void)state;
	char a[4096], b[4096];
	make_store(a, sizeof(a));
	make_store(b, sizeof(b));
	fill(a, 10, 5);
	fill(b, 10, 5);
	expect_intact(a, 10, 0);
	/* B's newest head (signed by B's key) in place of A's */
	char sql[8192 + 100], row[1024];
	db_text(b, "SELECT quote(root) || ',' || quote(chain) || ',' || quote(key_id) || ',' || "
	        "quote(signature) FROM heads WHERE size = 10", row, sizeof(row));
	snprintf(sql, sizeof(sql), "DELETE FROM heads WHERE size = 10; INSERT INTO heads(size, "
	         "time_us, root, chain, key_id, signature) SELECT 10, 1767225600000000, %s", row);
	db_exec(a, sql);
	expect_bad(a, 5, "another key");
	/* the same signature presented under A's key id */
	db_exec(a, "UPDATE heads SET key_id = (SELECT key_id FROM heads WHERE size = 5) "
	        "WHERE size = 10");
	expect_bad(a, 5, "invalid signature");
}

/* The checked-in vector: verify agrees with the roots its README lists. */
static void
test_vector(void **state)
{
	(void)state;
	const char *data = getenv("CU_TEST_DATA");
	char src[4096], dir[4096], cmd[8400], path[4200];
	assert_non_null(data);
	assert_int_equal(cu_path(src, sizeof(src), "%s/audit-vector/store", data), 0);
	assert_int_equal(cu_path(dir, sizeof(dir), "%s/vector", tmproot), 0);
	/* a copy: opening a WAL database may write next to it */
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", src, dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cu_path(path, sizeof(path), "%s/audit-vector/expected.json", data), 0);
	json_error_t jerr;
	json_t *want = json_load_file(path, 0, &jerr);
	if (want == NULL)
		fail_msg("%s: %s", path, jerr.text);
	struct cu_audit_report *rep = verify(dir);
	assert_false(rep->tampered);
	assert_int_equal(rep->entries, json_integer_value(json_object_get(want, "entries")));
	assert_int_equal(rep->heads, json_array_size(json_object_get(want, "tree_heads")));
	char root[65];
	cu_hex(rep->root, 32, root);
	assert_string_equal(root, json_string_value(json_object_get(want, "root")));
	cu_audit_report_free(rep);
	/* every head's root, from the leaves recomputed by the library */
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(want, "tree_heads"), i, h) {
		char sql[200], got[80];
		snprintf(sql, sizeof(sql), "SELECT root FROM heads WHERE size = %lld",
		         (long long)json_integer_value(json_object_get(h, "size")));
		db_text(dir, sql, got, sizeof(got));
		assert_string_equal(got, json_string_value(json_object_get(h, "root")));
	}
	json_decref(want);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmproot) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmproot);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merkle_known_answers),
		cmocka_unit_test(test_merkle_incremental_vs_recursive),
		cmocka_unit_test(test_leaf_encoding),
		cmocka_unit_test(test_append_sign_verify),
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_vector),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
