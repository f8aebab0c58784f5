/*
 * fs.h - reading and writing the node's files safely.
 *
 * Inputs are read with a size cap; outputs are written atomically (a
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory), so a crash leaves either the old file or the new one.
 * Private files (keys, secrets) are created 0600 with O_EXCL|O_NOFOLLOW and
 * refused when read if group- or world-accessible.
 */
#ifndef ACCORD_FS_H
#define ACCORD_FS_H

#include "accord/error.h"

/*
 * Read the whole of path into a new NUL-terminated buffer (*buf, free() it)
 * of *len bytes (the NUL not counted). Fails with ACCORD_ETOOBIG when the
 * file is larger than max bytes, ACCORD_ENOTFOUND when it does not exist,
 * ACCORD_EIO otherwise.
 */
int fs_read_file(const char *path, size_t max, char **buf, size_t *len,
		 accord_error *e) ACCORD_MUST_CHECK;

/* As fs_read_file, but first refuses (ACCORD_EPERM) a file that is not a
 * regular file owned by us or that any group or other may access, and does
 * not follow a symbolic link in the last component. */
int fs_read_private(const char *path, size_t max, char **buf, size_t *len,
		    accord_error *e) ACCORD_MUST_CHECK;

/* Replace path atomically with len bytes of data, mode as given. */
int fs_write_atomic(const char *path, const void *data, size_t len,
		    unsigned mode, accord_error *e) ACCORD_MUST_CHECK;

/* Create path (which must not exist: ACCORD_EEXIST) with mode 0600 and
 * O_EXCL|O_NOFOLLOW, write data and fsync it and its directory. */
int fs_create_private(const char *path, const void *data, size_t len,
		      accord_error *e) ACCORD_MUST_CHECK;

/* Create path as a new public file (0644, O_EXCL|O_NOFOLLOW), as durably. */
int fs_create_public(const char *path, const void *data, size_t len,
		     accord_error *e) ACCORD_MUST_CHECK;

/* e's message without a leading "path: ", for reports that already name
 * the file. */
const char *fs_error_detail(const accord_error *e, const char *path);

/* fsync the directory dir, or the one path is in: what was created or
 * renamed in it survives a power loss. ACCORD_EIO. */
int fs_sync_dir(const char *dir, accord_error *e) ACCORD_MUST_CHECK;
int fs_sync_parent(const char *path, accord_error *e) ACCORD_MUST_CHECK;

/* snprintf into a fixed buffer; ACCORD_ETOOBIG on truncation. */
int fs_path(char *out, size_t size, const char *fmt, ...) ACCORD_PRINTF(3, 4)
	ACCORD_MUST_CHECK;

#endif
