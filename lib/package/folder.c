/* The player folder (custody/package.h): what a USB stick or a disc for a
 * court holds beside a package, made by `custody export --include-player`
 * as a directory and by custodyd, for a profile with include_player, as a
 * tar to download (docs/evidence-export.md, "The player folder"). The
 * README's text and the recipe live here so that both are the same. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custody/crypto.h"
#include "custody/package.h"
#include "package/package_int.h"
#include "custody/error.h"
#include "custody/file.h"
#include "custody/parse.h"

#define COPY_CHUNK (256 * 1024)

int
cu_pkg_folder_readme(const char *pkg_hex, const char *program_hex, const char *recipe_hex,
                     char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
		"CUSTODY EVIDENCE PACKAGE\n"
		"\n"
		"This folder holds an evidence package exported by custody (recorded video\n"
		"with its recording signatures, and a manifest signed by the recording server\n"
		"naming the case, the comments, who exported it and when), and what is needed\n"
		"to check and play it:\n"
		"\n"
		"  " CU_PKG_FOLDER_PACKAGE "      the evidence package\n"
		"  custody            the custody program (Linux), to verify and play it\n"
		"  verify-package.sh  a shell script that checks the package without custody\n"
		"  README.txt         this file\n"
		"\n"
		"Verify the package (every signature and every recorded frame):\n"
		"    ./custody verify " CU_PKG_FOLDER_PACKAGE "\n"
		"\n"
		"Play it (in a web browser, served on this computer only):\n"
		"    ./custody player " CU_PKG_FOLDER_PACKAGE "\n"
		"\n"
		"An encrypted package asks for its password (or: --password-file FILE).\n"
		"\n"
		"Check it without custody's code, with openssl (3.0) and argon2 (the Debian\n"
		"package \"argon2\", for encrypted packages) and standard tools only:\n"
		"    sh verify-package.sh " CU_PKG_FOLDER_PACKAGE " [PASSWORD_FILE]\n"
		"It prints every step and ends with \"RESULT: intact\" for an intact package.\n"
		"\n"
		"The custody program runs on Debian 12 with the packages from custody's\n"
		"scripts/bootstrap (OpenSSL 3, libargon2, libsodium, SQLite, jansson, FFmpeg,\n"
		"libcurl).\n"
		"\n"
		"SHA-256 of the files as they were written (compare with the output of\n"
		"sha256sum " CU_PKG_FOLDER_PACKAGE " custody verify-package.sh):\n"
		"\n"
		"%s  " CU_PKG_FOLDER_PACKAGE "\n"
		"%s  custody\n"
		"%s  verify-package.sh\n"
		"\n"
		"These hashes only show that this folder was not altered in transit: anyone\n"
		"who alters it can rewrite this file too. What proves the evidence is the\n"
		"package's own signatures, checked by custody verify or verify-package.sh.\n",
		pkg_hex, program_hex, recipe_hex);
	if (n < 0 || (size_t)n >= cap)
		return cu_fail(CU_ERR_LIMIT, "README.txt is longer than %zu bytes", cap);
	return n;
}

struct tarw {
	int out;
	const struct cu_pkg_folder_opts *o;
	uint64_t done, total;
	uint8_t *buf;
};

/* Writes to out (nothing when out is -1: only hashing) and reports progress. */
static int
put(struct tarw *w, const void *data, size_t len, const char *what)
{
	int r = w->out >= 0 ? cu_write_all(w->out, data, len, what) : 0;
	if (r < 0)
		return r;
	w->done += len;
	if (w->o->progress != NULL)
		w->o->progress(w->o->progress_ctx, w->done, w->total);
	return 0;
}

static int
entry_head(struct tarw *w, const char *name, unsigned mode, uint64_t size)
{
	char path[CU_TAR_NAME_MAX + 1];
	uint8_t h[CU_TAR_BLOCK];
	int r;
	if ((r = cu_path(path, sizeof(path), "%s/%s", w->o->dir, name)) < 0 ||
	    (r = cu_tar_file_header(path, mode, size, w->o->mtime_s, h)) < 0)
		return r;
	return put(w, h, sizeof(h), "tar header");
}

static int
pad(struct tarw *w, uint64_t size)
{
	static const uint8_t zeros[CU_TAR_BLOCK];
	size_t n = (size_t)((CU_TAR_BLOCK - size % CU_TAR_BLOCK) % CU_TAR_BLOCK);
	return n > 0 ? put(w, zeros, n, "tar padding") : 0;
}

/* Copies a file of size bytes, read with pread, to w; hex gets its SHA-256. */
static int
copy_hashed(struct tarw *w, const char *name, int fd, uint64_t size,
            char hex[static 2 * CU_SHA256_LEN + 1])
{
	cu_sha256_ctx *h = NULL;
	uint8_t digest[CU_SHA256_LEN];
	int r;
	if ((r = cu_sha256_new(&h)) < 0 || (r = cu_sha256_init(h)) < 0)
		goto out;
	for (uint64_t off = 0; off < size;) {
		if (w->o->cancel != NULL && atomic_load(w->o->cancel)) {
			r = cu_fail(CU_ERR_CANCELLED, "cancelled");
			goto out;
		}
		size_t n = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
		if ((r = cu_pread_all(fd, w->buf, n, off, name)) < 0) {
			if (r == CU_ERR_FORMAT) /* it got shorter while we read it */
				r = cu_fail(CU_ERR_IO, "%s changed while it was copied", name);
			goto out;
		}
		if ((r = cu_sha256_update(h, w->buf, n)) < 0 || (r = put(w, w->buf, n, name)) < 0)
			goto out;
		off += n;
	}
	/* a file that grew while it was read would not be what was hashed */
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = cu_fail_errno(errno, "%s", name);
		goto out;
	}
	if ((uint64_t)st.st_size != size) {
		r = cu_fail(CU_ERR_IO, "%s changed while it was copied", name);
		goto out;
	}
	if ((r = cu_sha256_final(h, digest)) < 0)
		goto out;
	cu_hex(digest, sizeof(digest), hex);
out:
	cu_sha256_free(h);
	return r;
}

/* One tar entry from a file. */
static int
entry_file(struct tarw *w, const char *name, unsigned mode, int fd, uint64_t size,
           char hex[static 2 * CU_SHA256_LEN + 1])
{
	int r;
	if ((r = entry_head(w, name, mode, size)) < 0 || (r = copy_hashed(w, name, fd, size, hex)) < 0)
		return r;
	return pad(w, size);
}

static int
entry_mem(struct tarw *w, const char *name, const void *data, size_t len)
{
	int r;
	if ((r = entry_head(w, name, 0644, len)) < 0 || (r = put(w, data, len, name)) < 0)
		return r;
	return pad(w, len);
}

static int
regular_size(int fd, const char *what, uint64_t max, uint64_t *ret)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cu_fail_errno(errno, "%s", what);
	if (!S_ISREG(st.st_mode))
		return cu_fail(CU_ERR_INVAL, "%s is not a regular file", what);
	if ((uint64_t)st.st_size > max)
		return cu_fail(CU_ERR_LIMIT, "%s is %lld bytes (at most %llu)", what,
		               (long long)st.st_size, (unsigned long long)max);
	*ret = (uint64_t)st.st_size;
	return 0;
}

int
cu_pkg_folder_tar(int out, const struct cu_pkg_folder_opts *o, uint64_t *ret_bytes)
{
	struct tarw w = {.out = out, .o = o};
	char pkg_hex[2 * CU_SHA256_LEN + 1], prog_hex[2 * CU_SHA256_LEN + 1];
	char recipe_hex[2 * CU_SHA256_LEN + 1];
	uint8_t digest[CU_SHA256_LEN];
	uint64_t pkg_size = 0, prog_size = 0;
	char *readme = NULL;
	int r, n;
	if (o->dir == NULL || o->dir[0] == '\0' || strchr(o->dir, '/') != NULL)
		return cu_fail(CU_ERR_INVAL, "player folder: the folder name must be one path part");
	if ((r = regular_size(o->package_fd, "the package", CU_TAR_SIZE_MAX, &pkg_size)) < 0 ||
	    (r = regular_size(o->program_fd, "the custody program", CU_PKG_FOLDER_PROGRAM_MAX,
	                      &prog_size)) < 0)
		return r;
	/* the README's length is known from its template: the hashes are fixed-size */
	w.total = 4 * CU_TAR_BLOCK + cu_tar_padded(pkg_size) + cu_tar_padded(prog_size) +
	          cu_tar_padded(cu_pkg_recipe_sh_len) + CU_PKG_FOLDER_README_MAX + 2 * CU_TAR_BLOCK;
	if ((w.buf = malloc(COPY_CHUNK)) == NULL || (readme = malloc(CU_PKG_FOLDER_README_MAX)) == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = entry_file(&w, CU_PKG_FOLDER_PACKAGE, 0644, o->package_fd, pkg_size, pkg_hex)) < 0 ||
	    (r = entry_file(&w, CU_PKG_FOLDER_PROGRAM, 0755, o->program_fd, prog_size, prog_hex)) < 0 ||
	    (r = cu_sha256(cu_pkg_recipe_sh, cu_pkg_recipe_sh_len, digest)) < 0)
		goto out;
	cu_hex(digest, sizeof(digest), recipe_hex);
	if ((r = entry_mem(&w, CU_PKG_FOLDER_RECIPE, cu_pkg_recipe_sh, cu_pkg_recipe_sh_len)) < 0 ||
	    (n = r = cu_pkg_folder_readme(pkg_hex, prog_hex, recipe_hex, readme,
	                                  CU_PKG_FOLDER_README_MAX)) < 0 ||
	    (r = entry_mem(&w, CU_PKG_FOLDER_README, readme, (size_t)n)) < 0)
		goto out;
	static const uint8_t end[2 * CU_TAR_BLOCK];
	w.total = w.done + sizeof(end);
	if ((r = put(&w, end, sizeof(end), "tar end")) < 0)
		goto out;
	if (ret_bytes != NULL)
		*ret_bytes = w.done;
	r = 0;
out:
	free(w.buf);
	free(readme);
	return r;
}

/* ---- the directory form (custody export --store --include-player) ---- */

static int
new_file(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd >= 0 ? fd : cu_fail_errno(errno, "%s", name);
}

/* The mode is set explicitly (the umask must not make the copy unrunnable),
 * then the file is made durable and closed. */
static int
finish_file(int fd, const char *name, unsigned mode, int r)
{
	if (r == 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0))
		r = cu_fail_errno(errno, "%s", name);
	if (close(fd) < 0 && r == 0)
		r = cu_fail_errno(errno, "%s", name);
	return r;
}

static int
put_file(int dfd, const char *name, const void *data, size_t len,
         char hex[static 2 * CU_SHA256_LEN + 1])
{
	uint8_t digest[CU_SHA256_LEN];
	int r, fd = new_file(dfd, name);
	if (fd < 0)
		return fd;
	r = cu_write_all(fd, data, len, name);
	if ((r = finish_file(fd, name, 0644, r)) < 0 || (r = cu_sha256(data, len, digest)) < 0)
		return r;
	cu_hex(digest, sizeof(digest), hex);
	return 0;
}

int
cu_pkg_folder_complete(int dfd, int program_fd)
{
	struct cu_pkg_folder_opts o = {.dir = "."};
	struct tarw w = {.out = -1, .o = &o};
	char pkg_hex[2 * CU_SHA256_LEN + 1], prog_hex[2 * CU_SHA256_LEN + 1];
	char recipe_hex[2 * CU_SHA256_LEN + 1], readme_hex[2 * CU_SHA256_LEN + 1];
	char *readme = NULL;
	uint64_t size = 0;
	int r, n, fd = -1;
	if ((w.buf = malloc(COPY_CHUNK)) == NULL || (readme = malloc(CU_PKG_FOLDER_README_MAX)) == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* the package already there: hashed only */
	if ((fd = openat(dfd, CU_PKG_FOLDER_PACKAGE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		r = cu_fail_errno(errno, "%s", CU_PKG_FOLDER_PACKAGE);
		goto out;
	}
	r = regular_size(fd, CU_PKG_FOLDER_PACKAGE, CU_TAR_SIZE_MAX, &size);
	if (r == 0)
		r = copy_hashed(&w, CU_PKG_FOLDER_PACKAGE, fd, size, pkg_hex);
	close(fd);
	if (r < 0)
		goto out;
	if ((r = regular_size(program_fd, "the custody program", CU_PKG_FOLDER_PROGRAM_MAX,
	                      &size)) < 0 ||
	    (r = fd = new_file(dfd, CU_PKG_FOLDER_PROGRAM)) < 0)
		goto out;
	w.out = fd;
	r = copy_hashed(&w, CU_PKG_FOLDER_PROGRAM, program_fd, size, prog_hex);
	if ((r = finish_file(fd, CU_PKG_FOLDER_PROGRAM, 0755, r)) < 0 ||
	    (r = put_file(dfd, CU_PKG_FOLDER_RECIPE, cu_pkg_recipe_sh, cu_pkg_recipe_sh_len,
	                  recipe_hex)) < 0 ||
	    (n = r = cu_pkg_folder_readme(pkg_hex, prog_hex, recipe_hex, readme,
	                                  CU_PKG_FOLDER_README_MAX)) < 0 ||
	    (r = put_file(dfd, CU_PKG_FOLDER_README, readme, (size_t)n, readme_hex)) < 0)
		goto out;
	if (fsync(dfd) < 0) {
		r = cu_fail_errno(errno, "the folder");
		goto out;
	}
	r = 0;
out:
	free(w.buf);
	free(readme);
	return r;
}

/* ---- unpacking (custody export --server --include-player) ---- */

#define RECIPE_MAX (1024 * 1024)

struct untar {
	int in, dfd;
	uint64_t off;                       /* of the input, for messages */
	uint8_t *buf;
	const atomic_bool *cancel;
};

static int
read_exact(struct untar *u, void *p, size_t n, const char *what)
{
	int r = cu_pread_all(u->in, p, n, u->off, what);
	if (r == CU_ERR_FORMAT)
		return cu_fail(CU_ERR_FORMAT, "the player folder's tar ends inside %s (at byte %llu)",
		               what, (unsigned long long)u->off);
	if (r == 0)
		u->off += n;
	return r;
}

/* One entry, expected to be DIR/name with mode; dir is taken from the first. */
static int
untar_entry(struct untar *u, char *dir, const char *name, unsigned mode, uint64_t max,
            char hex[static 2 * CU_SHA256_LEN + 1], char *keep, size_t keep_cap,
            size_t *keep_len)
{
	uint8_t h[CU_TAR_BLOCK], digest[CU_SHA256_LEN];
	char got[CU_TAR_NAME_MAX + 1];
	unsigned got_mode;
	uint64_t size = 0;
	int64_t mtime;
	cu_sha256_ctx *sh = NULL;
	int fd = -1, r;
	if ((r = read_exact(u, h, sizeof(h), name)) < 0 ||
	    (r = cu_tar_file_parse(h, got, &got_mode, &size, &mtime)) < 0)
		return r;
	char *slash = strchr(got, '/');
	if (dir[0] == '\0' && slash != NULL && slash != got) {
		memcpy(dir, got, (size_t)(slash - got));
		dir[slash - got] = '\0';
	}
	size_t dlen = strlen(dir);
	if (dlen == 0 || strncmp(got, dir, dlen) != 0 || got[dlen] != '/' ||
	    strcmp(got + dlen + 1, name) != 0 || got_mode != mode)
		return cu_fail(CU_ERR_FORMAT, "the player folder's tar holds %s (mode %o) where "
		               "%s/%s (mode %o) belongs", got, got_mode, dir[0] ? dir : "FOLDER",
		               name, mode);
	if (size > max)
		return cu_fail(CU_ERR_FORMAT, "the player folder's %s is %llu bytes (at most %llu)",
		               name, (unsigned long long)size, (unsigned long long)max);
	if (keep != NULL && size > keep_cap)
		return cu_fail(CU_ERR_FORMAT, "the player folder's %s is too long", name);
	fd = openat(u->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cu_fail_errno(errno, "%s", name);
	if ((r = cu_sha256_new(&sh)) < 0 || (r = cu_sha256_init(sh)) < 0)
		goto out;
	for (uint64_t done = 0; done < size;) {
		if (u->cancel != NULL && atomic_load(u->cancel)) {
			r = cu_fail(CU_ERR_CANCELLED, "cancelled");
			goto out;
		}
		size_t n = size - done < COPY_CHUNK ? (size_t)(size - done) : COPY_CHUNK;
		if ((r = read_exact(u, u->buf, n, name)) < 0 || (r = cu_sha256_update(sh, u->buf, n)) < 0 ||
		    (r = cu_write_all(fd, u->buf, n, name)) < 0)
			goto out;
		if (keep != NULL)
			memcpy(keep + done, u->buf, n);
		done += n;
	}
	size_t padlen = (size_t)(cu_tar_padded(size) - size);
	uint8_t pad[CU_TAR_BLOCK];
	if (padlen > 0 && (r = read_exact(u, pad, padlen, name)) < 0)
		goto out;
	if (!cu_all_zero(pad, padlen)) {
		r = cu_fail(CU_ERR_FORMAT, "the player folder's tar: %s is padded with other bytes "
		            "than zeros", name);
		goto out;
	}
	/* the mode is set explicitly: the umask must not make the copy unrunnable */
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = cu_fail_errno(errno, "%s", name);
		goto out;
	}
	if ((r = cu_sha256_final(sh, digest)) < 0)
		goto out;
	cu_hex(digest, sizeof(digest), hex);
	if (keep_len != NULL)
		*keep_len = (size_t)size;
	r = 0;
out:
	cu_sha256_free(sh);
	if (close(fd) < 0 && r == 0)
		r = cu_fail_errno(errno, "%s", name);
	return r;
}

/* Is "<hex>  <name>\n" a line of text? */
static bool
lists(const char *text, size_t len, const char *hex, const char *name)
{
	char line[2 * CU_SHA256_LEN + 64];
	int n = snprintf(line, sizeof(line), "\n%s  %s\n", hex, name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return false;
	return memmem(text, len, line, (size_t)n) != NULL;
}

int
cu_pkg_folder_untar(int in, int dfd, char *dir, const atomic_bool *cancel)
{
	struct untar u = {.in = in, .dfd = dfd, .cancel = cancel};
	char pkg_hex[2 * CU_SHA256_LEN + 1], prog_hex[2 * CU_SHA256_LEN + 1];
	char recipe_hex[2 * CU_SHA256_LEN + 1], readme_hex[2 * CU_SHA256_LEN + 1];
	char *readme = NULL;
	size_t readme_len = 0;
	uint8_t end[2 * CU_TAR_BLOCK + 1];
	int r;
	dir[0] = '\0';
	if ((u.buf = malloc(COPY_CHUNK)) == NULL || (readme = malloc(CU_PKG_FOLDER_README_MAX)) == NULL) {
		r = cu_fail(CU_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = untar_entry(&u, dir, CU_PKG_FOLDER_PACKAGE, 0644, CU_TAR_SIZE_MAX, pkg_hex, NULL,
	                     0, NULL)) < 0 ||
	    (r = untar_entry(&u, dir, CU_PKG_FOLDER_PROGRAM, 0755, CU_PKG_FOLDER_PROGRAM_MAX,
	                     prog_hex, NULL, 0, NULL)) < 0 ||
	    (r = untar_entry(&u, dir, CU_PKG_FOLDER_RECIPE, 0644, RECIPE_MAX, recipe_hex, NULL, 0,
	                     NULL)) < 0 ||
	    (r = untar_entry(&u, dir, CU_PKG_FOLDER_README, 0644, CU_PKG_FOLDER_README_MAX,
	                     readme_hex, readme, CU_PKG_FOLDER_README_MAX, &readme_len)) < 0)
		goto out;
	if ((r = read_exact(&u, end, 2 * CU_TAR_BLOCK, "the end blocks")) < 0)
		goto out;
	if (!cu_all_zero(end, 2 * CU_TAR_BLOCK)) {
		r = cu_fail(CU_ERR_FORMAT, "the player folder's tar holds more than its four files");
		goto out;
	}
	ssize_t extra = pread(in, end, 1, (off_t)u.off);
	if (extra != 0) {
		r = extra < 0 ? cu_fail_errno(errno, "reading the player folder's tar")
		              : cu_fail(CU_ERR_FORMAT, "the player folder's tar goes on after its end "
		                        "(at byte %llu)", (unsigned long long)u.off);
		goto out;
	}
	if (!lists(readme, readme_len, pkg_hex, CU_PKG_FOLDER_PACKAGE) ||
	    !lists(readme, readme_len, prog_hex, CU_PKG_FOLDER_PROGRAM) ||
	    !lists(readme, readme_len, recipe_hex, CU_PKG_FOLDER_RECIPE)) {
		r = cu_fail(CU_ERR_FORMAT, "the player folder's README.txt does not list the SHA-256 "
		            "of the files as they arrived");
		goto out;
	}
	if (fsync(dfd) < 0) {
		r = cu_fail_errno(errno, "the player folder");
		goto out;
	}
	r = 0;
out:
	free(u.buf);
	free(readme);
	return r;
}
