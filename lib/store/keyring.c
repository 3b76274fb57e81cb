/* keyring.json: the store's keys, each wrapped (AES-256-GCM) under a key
 * derived from the store password with Argon2id. The password can change by
 * rewrapping three small keys; media is never re-encrypted. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

#define SALT_LEN 16
#define WRAPPED_MAX (CU_AES256_KEY_LEN + CU_WRAP_OVERHEAD)

static const char *const key_names[3] = {"data", "signing", "ca"};

static int keyring_write(const char *path, const uint8_t store_id[static CU_ID_LEN],
                         int encryption, const char *password, size_t pw_len,
                         const struct cu_argon2_params *kdf, const struct cu_keys *keys,
                         int replace);

/* Wrap label: "custody/v1/key/<name>" NUL || store id || encryption mode. */
static size_t
wrap_label(const char *name, const uint8_t store_id[static CU_ID_LEN], int encryption,
           uint8_t out[static 64])
{
	size_t n = 0;
	static const char prefix[] = "custody/v1/key/";
	memcpy(out, prefix, sizeof(prefix) - 1);
	n += sizeof(prefix) - 1;
	size_t nl = strlen(name);
	memcpy(out + n, name, nl + 1);
	n += nl + 1;
	memcpy(out + n, store_id, CU_ID_LEN);
	n += CU_ID_LEN;
	out[n++] = (uint8_t)encryption;
	return n;
}

static uint8_t *
key_ptr(struct cu_keys *k, int i)
{
	return i == 0 ? k->data : i == 1 ? k->sign : k->ca;
}

int
cu_keyring_create(const char *path, const uint8_t store_id[static CU_ID_LEN], int encryption,
                  const char *password, size_t pw_len, const struct cu_argon2_params *kdf,
                  const struct cu_keys *keys)
{
	return keyring_write(path, store_id, encryption, password, pw_len, kdf, keys, 0);
}

static int
keyring_write(const char *path, const uint8_t store_id[static CU_ID_LEN], int encryption,
              const char *password, size_t pw_len, const struct cu_argon2_params *kdf,
              const struct cu_keys *keys, int replace)
{
	uint8_t salt[SALT_LEN], kek[CU_AES256_KEY_LEN];
	char hex[2 * WRAPPED_MAX + 1], idhex[2 * CU_ID_LEN + 1], salthex[2 * SALT_LEN + 1];
	char *text = NULL;
	json_t *root = NULL;
	int r = cu_random(salt, sizeof(salt));
	if (r < 0)
		return r;
	r = cu_argon2id(password, pw_len, salt, sizeof(salt), kdf, kek, sizeof(kek));
	if (r < 0)
		goto out;
	cu_hex(store_id, CU_ID_LEN, idhex);
	cu_hex(salt, SALT_LEN, salthex);
	json_t *wrapped = json_object();
	root = json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:I, s:I, s:I, s:s}, s:o}",
	                 "format", "custody-keyring", "version", 1, "store_id", idhex,
	                 "encryption", cu_encryption_name(encryption), "kdf", "alg", "argon2id",
	                 "t", (json_int_t)kdf->t_cost, "m_kib", (json_int_t)kdf->m_cost_kib,
	                 "p", (json_int_t)kdf->parallelism, "salt", salthex, "keys", wrapped);
	if (root == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory building the keyring");
		goto out;
	}
	struct cu_keys copy = *keys;
	for (int i = 0; i < 3; i++) {
		uint8_t label[64], w[WRAPPED_MAX];
		size_t ll = wrap_label(key_names[i], store_id, encryption, label);
		r = cu_key_wrap(kek, label, ll, key_ptr(&copy, i), CU_AES256_KEY_LEN, w);
		if (r < 0)
			break;
		cu_hex(w, sizeof(w), hex);
		if (json_object_set_new(wrapped, key_names[i], json_string(hex)) < 0)
			r = cu_fail(CU_ERR_NOMEM, "out of memory building the keyring");
	}
	cu_wipe(&copy, sizeof(copy));
	if (r < 0)
		goto out;
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory writing the keyring");
		goto out;
	}
	r = cu_file_write_atomic(path, text, strlen(text), 0600, replace);
out:
	cu_wipe(kek, sizeof(kek));
	free(text);
	json_decref(root);
	return r;
}

static int
get_u32(json_t *o, const char *k, const char *path, uint32_t *ret)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
		return cu_fail(CU_ERR_FORMAT, "%s: kdf.%s must be a whole number", path, k);
	*ret = (uint32_t)json_integer_value(v);
	return 0;
}

int
cu_keyring_load(const char *path, const char *password, size_t pw_len,
                uint8_t ret_store_id[static CU_ID_LEN], int *ret_encryption,
                struct cu_keys *ret_keys)
{
	uint8_t *text = NULL;
	size_t len;
	json_t *root = NULL;
	uint8_t kek[CU_AES256_KEY_LEN];
	struct cu_keys keys;
	int r = cu_file_read(path, CU_KEYRING_MAX, &text, &len);
	if (r < 0)
		return r;
	json_error_t jerr;
	root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		r = cu_fail(CU_ERR_FORMAT, "%s: line %d: %s", path, jerr.line, jerr.text);
		goto out;
	}
	const char *fmt = json_string_value(json_object_get(root, "format"));
	json_t *ver = json_object_get(root, "version");
	if (fmt == NULL || strcmp(fmt, "custody-keyring") != 0 || !json_is_integer(ver)) {
		r = cu_fail(CU_ERR_FORMAT, "%s: not a custody keyring", path);
		goto out;
	}
	if (json_integer_value(ver) != 1) {
		r = cu_fail(CU_ERR_UNSUPPORTED, "%s: keyring version %lld (this custody reads 1)",
		            path, (long long)json_integer_value(ver));
		goto out;
	}
	uint8_t store_id[CU_ID_LEN];
	int enc;
	if (cu_unhex(json_string_value(json_object_get(root, "store_id")), store_id, CU_ID_LEN) < 0 ||
	    cu_encryption_parse(json_string_value(json_object_get(root, "encryption")), &enc) < 0) {
		r = cu_fail(CU_ERR_FORMAT, "%s: store_id or encryption is malformed", path);
		goto out;
	}
	if (password != NULL) {
		json_t *kdf = json_object_get(root, "kdf");
		const char *alg = json_string_value(json_object_get(kdf, "alg"));
		struct cu_argon2_params p;
		uint8_t salt[SALT_LEN];
		if (alg == NULL || strcmp(alg, "argon2id") != 0) {
			r = cu_fail(CU_ERR_UNSUPPORTED, "%s: kdf.alg must be argon2id", path);
			goto out;
		}
		if ((r = get_u32(kdf, "t", path, &p.t_cost)) < 0 ||
		    (r = get_u32(kdf, "m_kib", path, &p.m_cost_kib)) < 0 ||
		    (r = get_u32(kdf, "p", path, &p.parallelism)) < 0)
			goto out;
		if (cu_unhex(json_string_value(json_object_get(kdf, "salt")), salt, SALT_LEN) < 0) {
			r = cu_fail(CU_ERR_FORMAT, "%s: kdf.salt must be %d hex digits", path,
			            2 * SALT_LEN);
			goto out;
		}
		r = cu_argon2id(password, pw_len, salt, SALT_LEN, &p, kek, sizeof(kek));
		if (r < 0) {
			r = cu_fail_prefix(r, "%s: kdf", path);
			goto out;
		}
		json_t *wk = json_object_get(root, "keys");
		for (int i = 0; i < 3; i++) {
			uint8_t w[WRAPPED_MAX], label[64];
			if (cu_unhex(json_string_value(json_object_get(wk, key_names[i])), w,
			             WRAPPED_MAX) < 0) {
				r = cu_fail(CU_ERR_FORMAT, "%s: keys.%s must be %d hex digits", path,
				            key_names[i], 2 * WRAPPED_MAX);
				goto out;
			}
			size_t ll = wrap_label(key_names[i], store_id, enc, label);
			r = cu_key_unwrap(kek, label, ll, w, WRAPPED_MAX, key_ptr(&keys, i));
			if (r == CU_ERR_AUTH) {
				r = cu_fail(CU_ERR_PASSWORD,
				            "%s: the password does not open this store's keys "
				            "(wrong password, or the keyring was altered)", path);
				goto out;
			}
			if (r < 0)
				goto out;
		}
		*ret_keys = keys;
	}
	memcpy(ret_store_id, store_id, CU_ID_LEN);
	*ret_encryption = enc;
	r = 0;
out:
	cu_wipe(&keys, sizeof(keys));
	cu_wipe(kek, sizeof(kek));
	json_decref(root);
	free(text);
	return r;
}

int
cu_keyring_rewrap(const char *path, const char *old_pw, size_t old_len, const char *new_pw,
                  size_t new_len, const struct cu_argon2_params *kdf)
{
	uint8_t id[CU_ID_LEN];
	int enc;
	struct cu_keys keys;
	int r = cu_keyring_load(path, old_pw, old_len, id, &enc, &keys);
	if (r < 0)
		return r;
	r = keyring_write(path, id, enc, new_pw, new_len, kdf, &keys, 1);
	cu_wipe(&keys, sizeof(keys));
	return r;
}
