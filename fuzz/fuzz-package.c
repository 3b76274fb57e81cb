/* Fuzz target: evidence packages (cu_pkg_verify in lib/package/verify.c and
 * the decoders it uses: the header, the canonical tar, manifest.json, and the
 * segment copies through lib/store's scan), the file the player opens.
 *
 * Input: one mode byte || data.
 *   mode bit 1 clear: data is a package file. With bit 0 set the harness
 *     first makes its header consistent (the plaintext length of an
 *     unencrypted package = the rest of the file, and the header hash), so
 *     that mutations reach the tar, the manifest and the segments instead of
 *     dying at the header hash. No password is given: an encrypted package
 *     is refused before any Argon2 work.
 *   mode bit 1 set: data is a manifest.json for the manifest decoder alone;
 *     what decodes must encode canonically and decode again to the same text.
 * A package must give a report or an error with a detail, never a crash. */
#include <string.h>

#include "custody/error.h"
#include "custody/package.h"
#include "fuzz.h"
#include "package/package_int.h"
#include "store/format.h"

static void
manifest_roundtrip(const uint8_t *data, size_t size)
{
	struct cu_pkg_manifest m, m2;
	char *a = NULL, *b = NULL;
	size_t na, nb;
	int r = cu_pkg_manifest_decode(data, size, &m);
	if (r > 0 || (r < 0 && cu_error_detail()[0] == '\0'))
		abort();
	if (r == 0 && cu_pkg_manifest_encode(&m, &a, &na) == 0) {
		if (cu_pkg_manifest_decode((const uint8_t *)a, na, &m2) != 0)
			abort(); /* custody's own canonical text must read back */
		if (cu_pkg_manifest_encode(&m2, &b, &nb) != 0 || na != nb || memcmp(a, b, na) != 0)
			abort(); /* and be a fixed point */
		cu_pkg_manifest_free(&m2);
	}
	free(a);
	free(b);
	cu_pkg_manifest_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > CU_FUZZ_INPUT_MAX)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (mode & 2) {
		manifest_roundtrip(data, size);
		return 0;
	}
	uint8_t *copy = malloc(size ? size : 1);
	if (copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	if ((mode & 1) && size >= CU_PKG_HEADER_LEN && memcmp(copy, CU_PKG_MAGIC, 8) == 0) {
		if (!(cu_get_u16(copy + 10) & CU_PKG_FLAG_ENCRYPTED))
			cu_put_u64(copy + 80, size - CU_PKG_HEADER_LEN);
		if (cu_sha256(copy, CU_PKG_HASHED_LEN, copy + CU_PKG_HASHED_LEN) < 0)
			abort();
	}
	const char *path = cu_fuzz_tmp_write(copy, size);
	free(copy);
	struct cu_pkg_verify_opts o = {.threads = 1};
	struct cu_pkg_report *rep = NULL;
	int r = cu_pkg_verify(path, &o, &rep);
	if (r > 0 || (r < 0 && cu_error_detail()[0] == '\0'))
		abort(); /* 0 or a negative cu_err, and every refusal says why */
	if (r == 0) {
		if (rep->status < CU_PKG_INTACT || rep->status > CU_PKG_DAMAGED)
			abort();
		if (rep->status == CU_PKG_INTACT &&
		    (!rep->export_signature_ok || !rep->chain_ok || rep->reason[0] != '\0'))
			abort(); /* intact means both layers verified */
		if (rep->status != CU_PKG_INTACT && rep->reason[0] == '\0')
			abort();
		cu_pkg_report_free(rep);
	}
	return 0;
}
