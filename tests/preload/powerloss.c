/*
 * powerloss.c - a disk that keeps only what was synced, for crash tests.
 *
 * Preloaded into a process (LD_PRELOAD), it watches one file,
 * POWERLOSS_FILE (a node's data.mdb), and keeps beside it an image of that
 * file as a disk would hold it after a power loss, POWERLOSS_DISK:
 *
 *   - a write to the file through a descriptor opened with O_DSYNC or
 *     O_SYNC reaches the image when the write returns;
 *   - any other write reaches it only when an fsync or fdatasync of the
 *     file returns, having begun after the write;
 *   - nothing else does: the page cache, which a SIGKILL leaves intact, is
 *     what the image leaves out.
 *
 * Kill the process with SIGKILL, move the image over the file, and the
 * process starts again from what the disk would have kept had the power
 * gone at that moment. A writer that reports a write durable before its
 * sync returned loses it in the image.
 *
 * The image starts as a copy of the file when the process starts (what
 * was there is taken as durable), or empty when there is no file yet.
 * Writes through a shared map are not seen: LMDB writes with pwrite and
 * writev unless MDB_WRITEMAP, which the node never sets.
 * The model is the strictest a disk allows: unsynced writes never land. A
 * process killed while a sync was being applied leaves part of it, as a
 * disk may.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

struct pending {
	struct pending *next;
	uint64_t n;               /* the order it was written in */
	off_t at;
	size_t len;
	unsigned char bytes[];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *watched;       /* POWERLOSS_FILE, or NULL: do nothing */
static int image = -1;            /* POWERLOSS_DISK, open */
static dev_t w_dev;
static ino_t w_ino;
static bool have_ino;
static struct pending *head, **tail = &head;
static uint64_t written;          /* writes recorded so far */

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void die(const char *what)
{
	fprintf(stderr, "powerloss: %s: %s\n", what, strerror(errno));
	abort();
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "powerloss: no %s to wrap\n", name);
		abort();
	}
	return f;
}

/* Copy the file as it is now into a fresh image. */
static void copy_file(void)
{
	unsigned char buf[65536];
	int in = open(watched, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (in < 0) {
		if (errno == ENOENT)
			return;
		die(watched);
	}
	while ((got = read(in, buf, sizeof buf)) > 0)
		if (real_write(image, buf, (size_t)got) != got)
			die("writing the disk image");
	if (got < 0)
		die(watched);
	close(in);
}

/* The calls wrapped, found at the first use: another library's
 * constructor may write before ours runs. */
static void find_real(void)
{
	if (real_fdatasync)
		return;
	real_write = next("write");
	real_pwrite = next("pwrite");
	real_writev = next("writev");
	real_pwritev = next("pwritev");
	real_fsync = next("fsync");
	real_fdatasync = next("fdatasync");
}

__attribute__((constructor)) static void start(void)
{
	const char *disk = getenv("POWERLOSS_DISK");

	find_real();
	watched = getenv("POWERLOSS_FILE");
	if (!watched || !*watched || !disk || !*disk) {
		watched = NULL;
		return;
	}
	image = open(disk, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (image < 0)
		die(disk);
	copy_file();
}

/* Whether fd is the watched file (which may be created after we start). */
static bool is_watched(int fd)
{
	struct stat st;

	if (!watched || fd == image || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	if (!have_ino) {
		struct stat w;

		if (stat(watched, &w) != 0)
			return false;
		pthread_mutex_lock(&mu);
		w_dev = w.st_dev;
		w_ino = w.st_ino;
		have_ino = true;
		pthread_mutex_unlock(&mu);
	}
	return st.st_dev == w_dev && st.st_ino == w_ino;
}

static void to_image(off_t at, const void *bytes, size_t len)
{
	const unsigned char *p = bytes;

	while (len) {
		ssize_t put = real_pwrite(image, p, len, at);

		if (put <= 0)
			die("writing the disk image");
		p += put;
		at += put;
		len -= (size_t)put;
	}
}

/* Under mu: apply, in order, and drop the pending writes that overlap
 * len bytes at `at`. */
static void flush_overlapping(off_t at, size_t len)
{
	struct pending **pp = &head;

	while (*pp) {
		struct pending *p = *pp;

		if (p->at < at + (off_t)len && at < p->at + (off_t)p->len) {
			to_image(p->at, p->bytes, p->len);
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	tail = &head;
	while (*tail)
		tail = &(*tail)->next;
}

/* What was written (len bytes at `at`, from iov) reached the file:
 * into the image now, or when the next sync returns. */
static void wrote(int fd, off_t at, const struct iovec *iov, int n, size_t len)
{
	int fl = fcntl(fd, F_GETFL);
	struct pending *p;
	size_t off = 0;

	if (fl < 0)
		die("F_GETFL");
	p = malloc(sizeof *p + len);
	if (!p)
		die("malloc");
	for (int i = 0; i < n && off < len; i++) {
		size_t take = iov[i].iov_len < len - off ? iov[i].iov_len : len - off;

		memcpy(p->bytes + off, iov[i].iov_base, take);
		off += take;
	}
	p->at = at;
	p->len = len;
	pthread_mutex_lock(&mu);
	if (fl & O_DSYNC) {
		/* The pages it lands on go to the disk with whatever was
		 * written to them before: those earlier writes first. */
		flush_overlapping(at, len);
		to_image(at, p->bytes, len);
		free(p);
	} else {
		p->next = NULL;
		p->n = ++written;
		*tail = p;
		tail = &p->next;
	}
	pthread_mutex_unlock(&mu);
}

/* A sync of the file returned: the pending writes up to the `upto`th,
 * those made before it began, are on the disk. */
static void synced(uint64_t upto)
{
	pthread_mutex_lock(&mu);
	while (head && head->n <= upto) {
		struct pending *p = head;

		to_image(p->at, p->bytes, p->len);
		head = p->next;
		if (!head)
			tail = &head;
		free(p);
	}
	pthread_mutex_unlock(&mu);
}

static ssize_t vwrite(int fd, const struct iovec *iov, int n, off_t at, bool positioned)
{
	bool w;
	off_t pos = at;
	ssize_t rc;

	find_real();
	w = is_watched(fd);
	if (w && !positioned && (pos = lseek(fd, 0, SEEK_CUR)) < 0)
		die("lseek");
	if (positioned)
		rc = n == 1 ? real_pwrite(fd, iov[0].iov_base, iov[0].iov_len, at) :
		     real_pwritev(fd, iov, n, at);
	else
		rc = n == 1 ? real_write(fd, iov[0].iov_base, iov[0].iov_len) :
		     real_writev(fd, iov, n);
	if (w && rc > 0) {
		int saved = errno;

		wrote(fd, pos, iov, n, (size_t)rc);
		errno = saved;
	}
	return rc;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct iovec v = { (void *)buf, len };

	return vwrite(fd, &v, 1, 0, false);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t at)
{
	struct iovec v = { (void *)buf, len };

	return vwrite(fd, &v, 1, at, true);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t at)
{
	return pwrite(fd, buf, len, at);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	return vwrite(fd, iov, n, 0, false);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t at)
{
	return vwrite(fd, iov, n, at, true);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t at)
{
	return pwritev(fd, iov, n, at);
}

static int sync_with(int (*real)(int), int fd)
{
	bool w;
	uint64_t upto;
	int rc;

	w = is_watched(fd);
	pthread_mutex_lock(&mu);
	upto = written;
	pthread_mutex_unlock(&mu);
	rc = real(fd);
	if (w && rc == 0)
		synced(upto);
	return rc;
}

int fsync(int fd)
{
	find_real();
	return sync_with(real_fsync, fd);
}

int fdatasync(int fd)
{
	find_real();
	return sync_with(real_fdatasync, fd);
}
