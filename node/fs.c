/* fs.c - capped reads, atomic writes, private files. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accord/fs.h"

const char *fs_error_detail(const accord_error *e, const char *path)
{
	const char *msg = accord_error_msg(e);
	size_t n = strlen(path);

	if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
		return msg + n + 2;
	return msg;
}

int fs_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return ACCORD_ETOOBIG;
	return 0;
}

static int read_fd(int fd, const char *path, size_t max, char **buf,
		   size_t *len, accord_error *e)
{
	struct stat st;
	char *b;
	size_t have = 0;

	if (fstat(fd, &st) != 0)
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return accord_fail(e, ACCORD_EINVAL, "%s: not a regular file", path);
	if ((uintmax_t)st.st_size > max)
		return accord_fail(e, ACCORD_ETOOBIG,
				   "%s: %jd bytes is larger than the limit of %zu bytes",
				   path, (intmax_t)st.st_size, max);
	b = malloc((size_t)st.st_size + 1);
	if (!b)
		return accord_fail(e, ACCORD_ENOMEM, "%s: out of memory", path);
	/* The file may grow while we read: never past the size we allocated. */
	for (;;) {
		ssize_t n;
		size_t room = (size_t)st.st_size - have;

		if (room == 0) {
			char extra;

			n = read(fd, &extra, 1);
			if (n > 0) {
				free(b);
				return accord_fail(e, ACCORD_EIO,
						   "%s: the file changed while it was read", path);
			}
			break;
		}
		n = read(fd, b + have, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(b);
			return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	b[have] = '\0';
	*buf = b;
	*len = have;
	return 0;
}

static int open_fail(const char *path, accord_error *e)
{
	if (errno == ENOENT)
		return accord_fail(e, ACCORD_ENOTFOUND, "%s: no such file", path);
	if (errno == ELOOP)
		return accord_fail(e, ACCORD_EPERM,
				   "%s: is a symbolic link; give the file itself", path);
	return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
}

int fs_read_file(const char *path, size_t max, char **buf, size_t *len,
		 accord_error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return open_fail(path, e);
	rc = read_fd(fd, path, max, buf, len, e);
	close(fd);
	return rc;
}

int fs_read_private(const char *path, size_t max, char **buf, size_t *len,
		    accord_error *e)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc;

	if (fd < 0)
		return open_fail(path, e);
	if (fstat(fd, &st) != 0) {
		rc = accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = accord_fail(e, ACCORD_EPERM,
				 "%s: private file is accessible to group or others "
				 "(mode %04o); run: chmod 600 %s",
				 path, (unsigned)(st.st_mode & 07777), path);
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		rc = accord_fail(e, ACCORD_EPERM,
				 "%s: private file is owned by uid %u, not by us (uid %u)",
				 path, (unsigned)st.st_uid, (unsigned)geteuid());
		goto out_close;
	}
	rc = read_fd(fd, path, max, buf, len, e);
out_close:
	close(fd);
	return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int fsync_dir_of(const char *path)
{
	char copy[4096];

	if (fs_path(copy, sizeof copy, "%s", path) != 0)
		return -1;
	return fsync_dir(dirname(copy));
}

int fs_sync_dir(const char *dir, accord_error *e)
{
	if (fsync_dir(dir) != 0)
		return accord_fail(e, ACCORD_EIO, "%s: cannot sync the directory: %s", dir,
				   strerror(errno));
	return 0;
}

int fs_sync_parent(const char *path, accord_error *e)
{
	if (fsync_dir_of(path) != 0)
		return accord_fail(e, ACCORD_EIO, "%s: cannot sync the directory it is in: %s",
				   path, strerror(errno));
	return 0;
}

static int create_excl(const char *path, const void *data, size_t len,
		       unsigned mode, accord_error *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0) {
		if (errno == EEXIST)
			return accord_fail(e, ACCORD_EEXIST,
					   "%s: already exists; refusing to overwrite it", path);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
	}
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		int err = errno;

		close(fd);
		unlink(path);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(err));
	}
	if (close(fd) != 0) {
		unlink(path);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
	}
	/* The new name too, not only the bytes: else a power loss may keep
	 * what was written with the key and lose the key. */
	if (fsync_dir_of(path) != 0)
		return accord_fail(e, ACCORD_EIO, "%s: written, but its directory could "
				   "not be synced: %s", path, strerror(errno));
	return 0;
}

int fs_create_private(const char *path, const void *data, size_t len,
		      accord_error *e)
{
	return create_excl(path, data, len, 0600, e);
}

int fs_create_public(const char *path, const void *data, size_t len,
		     accord_error *e)
{
	return create_excl(path, data, len, 0644, e);
}

int fs_write_atomic(const char *path, const void *data, size_t len,
		    unsigned mode, accord_error *e)
{
	char tmp[4096];
	int fd;

	if (fs_path(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) != 0)
		return accord_fail(e, ACCORD_ETOOBIG, "%s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return accord_fail(e, ACCORD_EIO, "%s: cannot create a temporary file: %s",
				   path, strerror(errno));
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		int err = errno;

		close(fd);
		unlink(tmp);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(err));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int err = errno;

		unlink(tmp);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(err));
	}
	if (fsync_dir_of(path) != 0)
		return accord_fail(e, ACCORD_EIO, "%s: written, but its directory could "
				   "not be synced: %s", path, strerror(errno));
	return 0;
}
