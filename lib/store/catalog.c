/* catalog.db: the SQLite (WAL) index of cameras and segments. The segment
 * files are the truth; the catalogue says which should exist and what each
 * held when it was last made durable, and verify checks the two agree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/time.h"
#include "store/store_int.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

#define CATALOG_VERSION "1"

/* journal_mode=WAL is set by cu_db_open before this runs */
static const char schema[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE cameras("
	"  id INTEGER PRIMARY KEY,"
	"  uuid TEXT NOT NULL UNIQUE CHECK(length(uuid) = 32),"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_us INTEGER NOT NULL);"
	"CREATE TABLE segments("
	"  camera INTEGER NOT NULL REFERENCES cameras(id),"
	"  seq INTEGER NOT NULL CHECK(seq > 0),"
	"  status INTEGER NOT NULL CHECK(status IN (0, 1, 2)),"
	"  start_us INTEGER NOT NULL,"
	"  end_us INTEGER NOT NULL,"
	"  first_entry INTEGER NOT NULL,"
	"  last_entry INTEGER NOT NULL,"
	"  frames INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  end_chain TEXT NOT NULL,"
	"  last_seal TEXT NOT NULL,"
	"  PRIMARY KEY(camera, seq)) WITHOUT ROWID;";

/* what every detail of the catalogue starts with */
#define CATALOG_NAME "catalogue"

int
cu_catalog_create(const char *path, const uint8_t store_id[static CU_ID_LEN], int encryption,
                  int64_t segment_us, int64_t created_us)
{
	cu_db *db = NULL;
	int r;
	if ((r = cu_db_open(path, CATALOG_NAME, CU_DB_CREATE | CU_DB_WAL, &db)) < 0)
		return r;
	if ((r = cu_db_exec(db, schema, "creating the schema")) < 0 ||
	    (r = cu_lock_schema(db)) < 0 || (r = cu_db_begin(db, false)) < 0)
		goto out;
	char idhex[2 * CU_ID_LEN + 1], seg[32], created[32];
	cu_hex(store_id, CU_ID_LEN, idhex);
	int k1 = snprintf(seg, sizeof(seg), "%lld", (long long)segment_us);
	int k2 = snprintf(created, sizeof(created), "%lld", (long long)created_us);
	if (k1 < 0 || (size_t)k1 >= sizeof(seg) || k2 < 0 || (size_t)k2 >= sizeof(created)) {
		r = cu_fail(CU_ERR_LIMIT, "catalogue: segment length or creation time too long");
		goto out;
	}
	const char *const kv[][2] = {
		{"format", "custody-catalog"}, {"version", CATALOG_VERSION}, {"store_id", idhex},
		{"encryption", cu_encryption_name(encryption)}, {"segment_us", seg},
		{"created_us", created},
	};
	if ((r = cu_db_meta_put(db, kv, sizeof(kv) / sizeof(kv[0]))) < 0 ||
	    (r = cu_db_commit(db)) < 0)
		goto out;
	r = 0;
out:
	cu_db_close(db); /* rolls back what was not committed */
	return r;
}

int
cu_catalog_open(cu_store *s, bool readonly)
{
	char path[PATH_MAX], v[64];
	int r = cu_path(path, sizeof(path), "%s/%s", s->dir, CU_CATALOG_FILE);
	if (r < 0)
		return r;
	/* Readers open read-write too, with query_only on: a read-only connection
	 * to a WAL database leaves -wal and -shm files behind, so that merely
	 * verifying would change the store directory. SQLite falls back to
	 * read-only by itself where the files cannot be written (a store on
	 * write-protected media).
	 * synchronous=NORMAL: commits are not fsync'd one by one; the commits
	 * that must survive power loss switch to FULL (cu_db_synchronous). */
	unsigned flags = CU_DB_FULLMUTEX |
	                 (readonly ? CU_DB_QUERY_ONLY
	                           : CU_DB_WAL | CU_DB_SYNC_NORMAL | CU_DB_FOREIGN_KEYS);
	cu_db *db = NULL;
	if ((r = cu_db_open(path, CATALOG_NAME, flags, &db)) < 0)
		return r;
	if ((r = cu_db_meta_get(db, "format", v, sizeof(v))) < 0)
		goto bad;
	if (strcmp(v, "custody-catalog") != 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: not a custody catalogue", path);
		goto fail;
	}
	if ((r = cu_db_meta_get(db, "version", v, sizeof(v))) < 0)
		goto bad;
	if (strcmp(v, CATALOG_VERSION) != 0) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: catalogue version %s (this custody reads %s)",
		            path, v, CATALOG_VERSION);
		goto fail;
	}
	uint8_t id[CU_ID_LEN];
	if ((r = cu_db_meta_get(db, "store_id", v, sizeof(v))) < 0)
		goto bad;
	if (cu_unhex(v, id, CU_ID_LEN) < 0 || memcmp(id, s->id, CU_ID_LEN) != 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: catalogue belongs to another store (store_id %s)",
		            path, v);
		goto fail;
	}
	uint64_t seg;
	if ((r = cu_db_meta_get(db, "segment_us", v, sizeof(v))) < 0 ||
	    (r = cu_parse_u64(v, (uint64_t)CU_SEGMENT_US_MAX, "catalogue meta segment_us", &seg)) < 0)
		goto bad;
	if ((int64_t)seg < CU_SEGMENT_US_MIN) {
		r = cu_fail(CU_ERR_FORMAT, "%s: segment_us %s is below the minimum", path, v);
		goto fail;
	}
	s->segment_us = (int64_t)seg;
	uint64_t created;
	if ((r = cu_db_meta_get(db, "created_us", v, sizeof(v))) < 0 ||
	    (r = cu_parse_u64(v, INT64_MAX, "catalogue meta created_us", &created)) < 0)
		goto bad;
	s->created_us = (int64_t)created;
	/* tables added after version 1 was first written: a writer adds them to
	 * an older catalogue; a reader finds none and reads "no locks" */
	if (!readonly && (r = cu_lock_schema(db)) < 0)
		goto fail;
	s->db = db;
	s->db_readonly = readonly;
	return 0;
bad:
	r = cu_fail_prefix(r, "%s", path);
fail:
	cu_db_close(db);
	return r;
}

int
cu_catalog_writable(cu_store *s)
{
	int r = 0;
	pthread_mutex_lock(&s->db_lock);
	if (s->db_readonly) {
		cu_db *old = s->db;
		s->db = NULL;
		r = cu_catalog_open(s, false);
		if (r < 0)
			s->db = old; /* keep reading with the old connection */
		else
			cu_db_close(old);
	}
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

void
cu_catalog_close(cu_store *s)
{
	cu_db_close(s->db);
	s->db = NULL;
}

static int
read_cam(sqlite3_stmt *st, struct cu_cam_row *c)
{
	c->row = sqlite3_column_int64(st, 0);
	const char *uuid = (const char *)sqlite3_column_text(st, 1);
	const char *name = (const char *)sqlite3_column_text(st, 2);
	c->created_us = sqlite3_column_int64(st, 3);
	if (uuid == NULL || name == NULL || cu_unhex(uuid, c->id, CU_ID_LEN) < 0 ||
	    strlen(name) > CU_CAMERA_NAME_MAX)
		return cu_fail(CU_ERR_DAMAGED, "catalogue: camera row %lld is malformed",
		               (long long)c->row);
	memcpy(c->name, name, strlen(name) + 1);
	return 0;
}

int
cu_catalog_camera(cu_store *s, const char *name, bool create, struct cu_cam_row *ret)
{
	sqlite3_stmt *st = NULL;
	int r;
	pthread_mutex_lock(&s->db_lock);
	if ((r = cu_db_prepare(s->db, "SELECT id, uuid, name, created_us FROM cameras "
	                       "WHERE name = ?", "cameras", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r = read_cam(st, ret);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = cu_db_fail(s->db, "cameras");
		goto out;
	}
	if (!create) {
		r = cu_fail(CU_ERR_NOTFOUND, "no camera named \"%s\" in this store", name);
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	struct cu_cam_row c = {0};
	char uuid[2 * CU_ID_LEN + 1];
	if ((r = cu_random(c.id, CU_ID_LEN)) < 0)
		goto out;
	cu_hex(c.id, CU_ID_LEN, uuid);
	c.created_us = cu_time_now_us();
	if ((r = cu_db_prepare(s->db, "INSERT INTO cameras(uuid, name, created_us) VALUES(?, ?, ?)",
	                       "adding camera", &st)) < 0)
		goto out;
	sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c.created_us);
	if ((r = cu_db_step_done(s->db, st, "adding camera")) < 0)
		goto out;
	c.row = sqlite3_last_insert_rowid(s->db->sql);
	memcpy(c.name, name, strlen(name) + 1);
	*ret = c;
	r = 0;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

static int
read_cam_row(void *ctx, sqlite3_stmt *st, void *rec)
{
	(void)ctx;
	return read_cam(st, rec);
}

int
cu_catalog_cameras(cu_store *s, struct cu_cam_row **ret, size_t *ret_n)
{
	static const struct cu_db_reader rd = {sizeof(struct cu_cam_row), CU_CAMERAS_MAX,
	                                       "cameras", read_cam_row};
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	pthread_mutex_lock(&s->db_lock);
	int r = cu_db_prepare(s->db, "SELECT id, uuid, name, created_us FROM cameras ORDER BY name",
	                      "cameras", &st);
	if (r == 0 && (r = cu_db_rows(s->db, st, &rd, NULL, &v, ret_n)) == 0)
		*ret = v;
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

static int
read_seg_row(void *ctx, sqlite3_stmt *st, void *rec)
{
	(void)ctx;
	struct cu_seg_row *g = rec;
	int64_t vals[8];
	for (int i = 0; i < 8; i++)
		vals[i] = sqlite3_column_int64(st, i);
	g->seq = (uint64_t)vals[0];
	g->status = (int)vals[1];
	g->start_us = vals[2];
	g->end_us = vals[3];
	g->first_entry = (uint64_t)vals[4];
	g->last_entry = (uint64_t)vals[5];
	g->frames = (uint64_t)vals[6];
	g->bytes = (uint64_t)vals[7];
	const char *ch = (const char *)sqlite3_column_text(st, 8);
	if (vals[0] <= 0 || vals[5] < 0 || vals[6] < 0 || vals[7] < 0 ||
	    cu_unhex(ch, g->end_chain, CU_SHA256_LEN) < 0 ||
	    cu_unhex((const char *)sqlite3_column_text(st, 9), g->last_seal, CU_SHA256_LEN) < 0)
		return cu_fail(CU_ERR_DAMAGED, "catalogue: segment row %lld is malformed",
		               (long long)vals[0]);
	return 0;
}

int
cu_catalog_segments(cu_store *s, int64_t cam, bool with_deleted, struct cu_seg_row **ret,
                    size_t *ret_n)
{
	static const struct cu_db_reader rd = {sizeof(struct cu_seg_row), CU_SEGMENTS_MAX,
	                                       "segments", read_seg_row};
	sqlite3_stmt *st = NULL;
	void *v = NULL;
	pthread_mutex_lock(&s->db_lock);
	int r = cu_db_prepare(s->db, "SELECT seq, status, start_us, end_us, first_entry, "
	                      "last_entry, frames, bytes, end_chain, last_seal FROM segments "
	                      "WHERE camera = ? AND (? OR status != 2) ORDER BY seq", "segments",
	                      &st);
	if (r == 0) {
		sqlite3_bind_int64(st, 1, cam);
		sqlite3_bind_int(st, 2, with_deleted);
		if ((r = cu_db_rows(s->db, st, &rd, NULL, &v, ret_n)) == 0)
			*ret = v;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_catalog_segment_put(cu_store *s, int64_t cam, const struct cu_seg_row *g, bool durable)
{
	int r;
	char chain[2 * CU_SHA256_LEN + 1], seal[2 * CU_SHA256_LEN + 1];
	cu_hex(g->end_chain, CU_SHA256_LEN, chain);
	cu_hex(g->last_seal, CU_SHA256_LEN, seal);
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->db_lock);
	/* once per camera-second: kept prepared */
	if ((r = cu_db_stmt(s->db, "INSERT OR REPLACE INTO segments(camera, seq, status, "
	                    "start_us, end_us, first_entry, last_entry, frames, bytes, end_chain, "
	                    "last_seal) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st)) < 0)
		goto out;
	if (durable && (r = cu_db_synchronous(s->db, true)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, (int64_t)g->seq);
	sqlite3_bind_int(st, 3, g->status);
	sqlite3_bind_int64(st, 4, g->start_us);
	sqlite3_bind_int64(st, 5, g->end_us);
	sqlite3_bind_int64(st, 6, (int64_t)g->first_entry);
	sqlite3_bind_int64(st, 7, (int64_t)g->last_entry);
	sqlite3_bind_int64(st, 8, (int64_t)g->frames);
	sqlite3_bind_int64(st, 9, (int64_t)g->bytes);
	sqlite3_bind_text(st, 10, chain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, seal, -1, SQLITE_STATIC);
	r = cu_db_step_done(s->db, st, "updating segment");
	cu_db_done(st);
	if (durable) {
		int r2 = cu_db_synchronous(s->db, false);
		if (r == 0)
			r = r2;
	}
out:
	pthread_mutex_unlock(&s->db_lock);
	return r;
}

int
cu_catalog_segments_delete(cu_store *s, int64_t cam, uint64_t from, uint64_t to)
{
	sqlite3_stmt *st = NULL;
	int r;
	pthread_mutex_lock(&s->db_lock);
	if ((r = cu_db_prepare(s->db, "UPDATE segments SET status = 2 WHERE camera = ? AND "
	                       "seq BETWEEN ? AND ?", "segments", &st)) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, cam);
	sqlite3_bind_int64(st, 2, (int64_t)from);
	sqlite3_bind_int64(st, 3, (int64_t)to);
	/* durable before any file is unlinked */
	if ((r = cu_db_synchronous(s->db, true)) < 0)
		goto out;
	r = cu_db_step_done(s->db, st, "deleting segments");
	int r2 = cu_db_synchronous(s->db, false);
	if (r == 0)
		r = r2;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->db_lock);
	return r;
}
