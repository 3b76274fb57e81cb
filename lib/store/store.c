/* Creating and opening a store; paths, per-segment keys, store information. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/time.h"
#include "store/store_int.h"
#include "store/tls_int.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

#define CA_DAYS (20 * 366)
#define CERT_DAYS (10 * 366)

const char *
cu_encryption_name(int enc)
{
	switch (enc) {
	case CU_ENC_NONE: return "none";
	case CU_ENC_LIGHT: return "light";
	case CU_ENC_STRONG: return "strong";
	}
	return "unknown";
}

int
cu_encryption_parse(const char *s, int *ret)
{
	for (int e = CU_ENC_NONE; e <= CU_ENC_STRONG; e++) {
		if (s != NULL && strcmp(s, cu_encryption_name(e)) == 0) {
			*ret = e;
			return 0;
		}
	}
	return cu_fail(CU_ERR_INVAL, "encryption \"%s\": expected none, light or strong",
	               s ? s : "");
}


int
cu_store_camera_dir(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], char *buf,
                    size_t len)
{
	char hex[2 * CU_ID_LEN + 1];
	cu_hex(cam_id, CU_ID_LEN, hex);
	return cu_path(buf, len, "%s/%s/%s", s->dir, CU_CAMERAS_DIR, hex);
}

int
cu_store_segment_path(const cu_store *s, const uint8_t cam_id[static CU_ID_LEN], uint64_t seq,
                      char *buf, size_t len)
{
	char hex[2 * CU_ID_LEN + 1];
	cu_hex(cam_id, CU_ID_LEN, hex);
	return cu_path(buf, len, "%s/%s/%s/%016llu.seg", s->dir, CU_CAMERAS_DIR, hex,
	               (unsigned long long)seq);
}

int
cu_store_segment_key(const cu_store *s, const struct cu_seg_header *h,
                     uint8_t out[static CU_AES256_KEY_LEN])
{
	static const char label[] = "custody/v1/segment-key";
	uint8_t info[sizeof(label) + 2 * CU_ID_LEN + 8];
	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), h->store_id, CU_ID_LEN);
	memcpy(info + sizeof(label) + CU_ID_LEN, h->camera_id, CU_ID_LEN);
	cu_put_u64(info + sizeof(label) + 2 * CU_ID_LEN, h->seq);
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed to read encrypted media");
	return cu_hkdf_sha256(h->key_salt, sizeof(h->key_salt), s->keys.data, CU_AES256_KEY_LEN,
	                      info, sizeof(info), out, CU_AES256_KEY_LEN);
}

void
cu_store_nonce(uint64_t entry, uint8_t out[static CU_GCM_NONCE_LEN])
{
	memset(out, 0, 4);
	cu_put_u64(out + 4, entry);
}

static int
write_pem(const char *dir, const char *name, const char *pem, size_t len)
{
	char path[PATH_MAX];
	int r = cu_path(path, sizeof(path), "%s/%s", dir, name);
	return r < 0 ? r : cu_file_write_atomic(path, pem, len, 0644, 0);
}

static void
remove_created(const char *dir)
{
	static const char *const files[] = {
		CU_KEYRING_FILE, CU_CA_FILE, CU_CERT_FILE, CU_CATALOG_FILE, CU_CATALOG_FILE "-wal",
		CU_CATALOG_FILE "-shm", CU_KEYRING_FILE ".tmp", CU_CA_FILE ".tmp", CU_CERT_FILE ".tmp",
	};
	char path[PATH_MAX];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (cu_path(path, sizeof(path), "%s/%s", dir, files[i]) == 0)
			unlink(path);
	if (cu_path(path, sizeof(path), "%s/%s", dir, CU_CAMERAS_DIR) == 0)
		rmdir(path);
	cu_tls_remove(dir);
}

/* dir must be absent (we create it) or an empty directory. */
static int
prepare_dir(const char *dir, bool *ret_made)
{
	if (mkdir(dir, 0700) == 0) {
		*ret_made = true;
		return 0;
	}
	if (errno != EEXIST)
		return cu_fail_errno(errno, "--store %s", dir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return cu_fail_errno(errno, "--store %s", dir);
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			r = cu_fail(CU_ERR_EXIST, "--store %s: directory is not empty; a new store "
			            "needs an empty or new directory", dir);
			break;
		}
	}
	closedir(d);
	*ret_made = false;
	return r;
}

int
cu_store_create(const char *dir, const char *password, size_t pw_len,
                const struct cu_store_create_opts *o)
{
	struct cu_keys keys;
	char *ca_pem = NULL, *cert_pem = NULL;
	size_t ca_len, cert_len;
	bool made = false, started = false;
	int r;
	if (pw_len < CU_PASSWORD_MIN || pw_len > CU_PASSWORD_MAX)
		return cu_fail(CU_ERR_INVAL, "the store password must be %d to %d bytes long",
		               CU_PASSWORD_MIN, CU_PASSWORD_MAX);
	if (o->encryption < CU_ENC_NONE || o->encryption > CU_ENC_STRONG)
		return cu_fail(CU_ERR_INVAL, "unknown encryption mode %d", o->encryption);
	int64_t seg_us = o->segment_us ? o->segment_us : CU_SEGMENT_US_DEFAULT;
	if (seg_us < CU_SEGMENT_US_MIN || seg_us > CU_SEGMENT_US_MAX)
		return cu_fail(CU_ERR_INVAL, "segment length must be 1 to 3600 seconds");
	struct cu_argon2_params kdf = o->kdf;
	if (kdf.t_cost == 0) {
		kdf.t_cost = CU_ARGON2_T_DEFAULT;
		kdf.m_cost_kib = CU_ARGON2_M_DEFAULT;
		kdf.parallelism = CU_ARGON2_P_DEFAULT;
	}
	char host[256] = "custody";
	if (gethostname(host, sizeof(host) - 1) < 0)
		memcpy(host, "custody", 8);
	host[sizeof(host) - 1] = '\0';
	const char *site = o->site_name ? o->site_name : "custody site";
	char cn_ca[320], cn_srv[320];
	if ((r = cu_path(cn_ca, sizeof(cn_ca), "%s CA", site)) < 0 ||
	    (r = cu_path(cn_srv, sizeof(cn_srv), "custody recording server %s",
	                 o->server_name ? o->server_name : host)) < 0)
		return r;

	if ((r = prepare_dir(dir, &made)) < 0)
		return r;
	started = true;
	uint8_t store_id[CU_ID_LEN], sign_pub[CU_ED25519_KEY_LEN], ca_pub[CU_ED25519_KEY_LEN];
	if ((r = cu_random(store_id, sizeof(store_id))) < 0 ||
	    (r = cu_random(keys.data, sizeof(keys.data))) < 0 ||
	    (r = cu_ed25519_keygen(keys.sign, sign_pub)) < 0 ||
	    (r = cu_ed25519_keygen(keys.ca, ca_pub)) < 0)
		goto out;
	if ((r = cu_x509_make_ca(keys.ca, cn_ca, site, CA_DAYS, &ca_pem, &ca_len)) < 0 ||
	    (r = cu_x509_issue(ca_pem, ca_len, keys.ca, sign_pub, cn_srv, site, CERT_DAYS,
	                       &cert_pem, &cert_len)) < 0)
		goto out;
	char path[PATH_MAX];
	if ((r = write_pem(dir, CU_CA_FILE, ca_pem, ca_len)) < 0 ||
	    (r = write_pem(dir, CU_CERT_FILE, cert_pem, cert_len)) < 0)
		goto out;
	if ((r = cu_path(path, sizeof(path), "%s/%s", dir, CU_KEYRING_FILE)) < 0 ||
	    (r = cu_keyring_create(path, store_id, o->encryption, password, pw_len, &kdf, &keys)) < 0)
		goto out;
	if ((r = cu_path(path, sizeof(path), "%s/%s", dir, CU_CATALOG_FILE)) < 0 ||
	    (r = cu_catalog_create(path, store_id, o->encryption, seg_us, cu_time_now_us())) < 0)
		goto out;
	if ((r = cu_path(path, sizeof(path), "%s/%s", dir, CU_CAMERAS_DIR)) < 0 ||
	    (r = cu_mkdir(path, 0700)) < 0)
		goto out;
	/* The HTTPS server's certificate (ECDSA P-256) and its site TLS CA. */
	if ((r = cu_tls_ensure(dir, store_id, keys.ca, site, NULL, 0, cu_time_now_us(), NULL)) < 0)
		goto out;
	r = cu_fsync_dir(dir);
out:
	if (r < 0 && started) {
		int saved = r;
		remove_created(dir);
		if (made)
			rmdir(dir);
		r = saved;
	}
	cu_wipe(&keys, sizeof(keys));
	free(ca_pem);
	free(cert_pem);
	return r;
}

static int
read_pem(cu_store *s, const char *name, char **ret, size_t *ret_len, struct cu_x509_info *info)
{
	char path[PATH_MAX];
	uint8_t *data;
	int r = cu_path(path, sizeof(path), "%s/%s", s->dir, name);
	if (r < 0 || (r = cu_file_read(path, CU_X509_PEM_MAX, &data, ret_len)) < 0)
		return r;
	r = cu_x509_info((const char *)data, *ret_len, info);
	if (r < 0) {
		free(data);
		return cu_fail_prefix(r, "%s", path);
	}
	*ret = (char *)data;
	return 0;
}

int
cu_store_open(const char *dir, const char *password, size_t pw_len, cu_store **ret)
{
	struct stat st;
	if (dir == NULL || stat(dir, &st) < 0)
		return cu_fail(CU_ERR_NOTFOUND, "--store %s: no such directory", dir ? dir : "");
	if (!S_ISDIR(st.st_mode))
		return cu_fail(CU_ERR_INVAL, "--store %s: not a directory", dir);
	if (password != NULL && pw_len > CU_PASSWORD_MAX)
		return cu_fail(CU_ERR_INVAL, "password longer than %d bytes", CU_PASSWORD_MAX);
	cu_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&s->db_lock, NULL);
	char path[PATH_MAX];
	int r = cu_path(s->dir, sizeof(s->dir), "%s", dir);
	if (r < 0)
		goto fail;
	if ((r = cu_path(path, sizeof(path), "%s/%s", dir, CU_KEYRING_FILE)) < 0)
		goto fail;
	if (access(path, F_OK) < 0) {
		r = cu_fail(CU_ERR_NOTFOUND, "--store %s: not a custody store (no %s)", dir,
		            CU_KEYRING_FILE);
		goto fail;
	}
	r = cu_keyring_load(path, password, pw_len, s->id, &s->encryption, &s->keys);
	if (r < 0)
		goto fail;
	s->have_keys = password != NULL;
	if ((r = read_pem(s, CU_CA_FILE, &s->ca_pem, &s->ca_len, &s->ca)) < 0 ||
	    (r = read_pem(s, CU_CERT_FILE, &s->cert_pem, &s->cert_len, &s->signer)) < 0)
		goto fail;
	if ((r = cu_catalog_open(s, true)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	cu_store_close(s);
	return r;
}

void
cu_store_close(cu_store *s)
{
	if (s == NULL)
		return;
	cu_catalog_close(s);
	cu_wipe(&s->keys, sizeof(s->keys));
	free(s->ca_pem);
	free(s->cert_pem);
	pthread_mutex_destroy(&s->db_lock);
	free(s);
}

void
cu_store_identity(const cu_store *s, struct cu_store_identity *ret)
{
	*ret = (struct cu_store_identity){
		.dir = s->dir, .id = s->id, .created_us = s->created_us, .ca = &s->ca,
		.signer = &s->signer, .ca_pem = s->ca_pem, .cert_pem = s->cert_pem,
		.ca_len = s->ca_len, .cert_len = s->cert_len,
	};
}

int
cu_store_signer(const cu_store *s, cu_sign_key **ret)
{
	if (!s->have_keys)
		return cu_fail(CU_ERR_PASSWORD, "the store password is needed to sign");
	return cu_sign_key_new(s->keys.sign, ret);
}

int
cu_store_encryption(const cu_store *s)
{
	return s->encryption;
}

int64_t
cu_store_segment_us(const cu_store *s)
{
	return s->segment_us;
}

/* Is a writer recording this camera now? It holds an exclusive flock. */
static bool
camera_busy(const cu_store *s, const uint8_t id[static CU_ID_LEN])
{
	char path[PATH_MAX];
	if (cu_store_camera_dir(s, id, path, sizeof(path)) < 0 ||
	    strlen(path) + 6 >= sizeof(path))
		return false;
	memcpy(path + strlen(path), "/lock", 6);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	bool busy = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int
cu_store_info(cu_store *s, struct cu_store_info **ret)
{
	struct cu_cam_row *cams = NULL;
	size_t ncams = 0;
	struct cu_store_info *info = calloc(1, sizeof(*info));
	if (info == NULL)
		return cu_fail(CU_ERR_NOMEM, "out of memory");
	int r = cu_catalog_cameras(s, &cams, &ncams);
	if (r < 0)
		goto fail;
	info->encryption = s->encryption;
	info->segment_us = s->segment_us;
	info->created_us = s->created_us;
	cu_hex(s->id, CU_ID_LEN, info->store_id);
	memcpy(info->signer_subject, s->signer.subject, sizeof(info->signer_subject));
	memcpy(info->signer_fp, s->signer.fingerprint, CU_SHA256_LEN);
	memcpy(info->ca_subject, s->ca.subject, sizeof(info->ca_subject));
	memcpy(info->ca_fp, s->ca.fingerprint, CU_SHA256_LEN);
	info->cameras = calloc(ncams ? ncams : 1, sizeof(*info->cameras));
	if (info->cameras == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < ncams; i++) {
		struct cu_info_camera *c = &info->cameras[i];
		struct cu_seg_row *rows;
		size_t n;
		if ((r = cu_catalog_segments(s, cams[i].row, false, &rows, &n)) < 0)
			goto fail;
		memcpy(c->name, cams[i].name, sizeof(c->name));
		cu_hex(cams[i].id, CU_ID_LEN, c->id);
		c->first_us = c->last_us = -1;
		for (size_t j = 0; j < n; j++) {
			c->segments++;
			c->frames += rows[j].frames;
			c->bytes += rows[j].bytes;
			if (rows[j].frames == 0)
				continue;
			if (c->first_us < 0 || rows[j].start_us < c->first_us)
				c->first_us = rows[j].start_us;
			if (rows[j].end_us > c->last_us)
				c->last_us = rows[j].end_us;
		}
		free(rows);
		c->recording = camera_busy(s, cams[i].id);
		info->total_bytes += c->bytes;
		info->ncameras++;
	}
	free(cams);
	*ret = info;
	return 0;
fail:
	free(cams);
	cu_store_info_free(info);
	return r;
}

void
cu_store_info_free(struct cu_store_info *i)
{
	if (i == NULL)
		return;
	free(i->cameras);
	free(i);
}

int
cu_store_change_password(const char *dir, const char *old_pw, size_t old_len, const char *new_pw,
                         size_t new_len, const struct cu_argon2_params *kdf_in)
{
	if (new_len < CU_PASSWORD_MIN || new_len > CU_PASSWORD_MAX)
		return cu_fail(CU_ERR_INVAL, "the new store password must be %d to %d bytes long",
		               CU_PASSWORD_MIN, CU_PASSWORD_MAX);
	if (old_pw == NULL || new_pw == NULL)
		return cu_fail(CU_ERR_INVAL, "the old and the new password are needed");
	struct cu_argon2_params kdf = kdf_in ? *kdf_in : (struct cu_argon2_params){0};
	if (kdf.t_cost == 0) {
		kdf.t_cost = CU_ARGON2_T_DEFAULT;
		kdf.m_cost_kib = CU_ARGON2_M_DEFAULT;
		kdf.parallelism = CU_ARGON2_P_DEFAULT;
	}
	char path[PATH_MAX];
	int r = cu_path(path, sizeof(path), "%s/%s", dir, CU_KEYRING_FILE);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0)
		return cu_fail(CU_ERR_NOTFOUND, "--store %s: not a custody store (no %s)", dir,
		               CU_KEYRING_FILE);
	return cu_keyring_rewrap(path, old_pw, old_len, new_pw, new_len, &kdf);
}
