/* store.c - the node's LMDB environment: safe directory, durable writes,
 * and a map that grows instead of failing. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accord/fs.h"
#include "accord/store.h"

struct store {
	MDB_env *env;
	char *dir;
	uint64_t map_max;
	bool read_only;
	bool full;
	int lock_fd;                  /* writer.lock, held while open to write */
};

int store_fail(accord_error *e, int mdb_rc, const char *what)
{
	int code = ACCORD_EIO;

	if (mdb_rc == MDB_NOTFOUND)
		code = ACCORD_ENOTFOUND;
	else if (mdb_rc == ENOMEM)
		code = ACCORD_ENOMEM;
	else if (mdb_rc == MDB_MAP_FULL)
		code = ACCORD_EFULL;
	return accord_fail(e, code, "%s: %s", what, mdb_strerror(mdb_rc));
}

/* The directory must exist (or be made) and be private to us: it holds the
 * audit secret and the log of who was disclosed what. */
static int check_dir(const char *dir, bool create, accord_error *e)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return accord_fail(e, ACCORD_EIO, "%s: %s", dir, strerror(errno));
		if (!create)
			return accord_fail(e, ACCORD_ENOTFOUND,
					   "%s: no such data directory", dir);
		if (mkdir(dir, 0700) != 0)
			return accord_fail(e, ACCORD_EIO, "%s: cannot create the data "
					   "directory: %s", dir, strerror(errno));
		return fs_sync_parent(dir, e);
	}
	if (!S_ISDIR(st.st_mode))
		return accord_fail(e, ACCORD_EINVAL, "%s: not a directory", dir);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return accord_fail(e, ACCORD_EPERM,
				   "%s: the data directory is accessible to group or "
				   "others (mode %04o); run: chmod 700 %s",
				   dir, (unsigned)(st.st_mode & 07777), dir);
	if (st.st_uid != geteuid())
		return accord_fail(e, ACCORD_EPERM,
				   "%s: the data directory is owned by uid %u, not by us "
				   "(uid %u)", dir, (unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

/*
 * One process at a time opens a store to write: a second node started on
 * the same data directory (a configuration copied, a restart overlapping
 * the old process) would append to the log the first one keeps and deliver
 * what it delivers. An exclusive flock on writer.lock, which names the
 * holder's pid for the message, held until store_close or the process's
 * end; readers (the DPO's command line) take none.
 */
static int take_writer_lock(store *s, accord_error *e)
{
	char path[4096], pid[24] = "";
	ssize_t got;
	int fd, n;

	if (fs_path(path, sizeof path, "%s/writer.lock", s->dir) != 0)
		return accord_fail(e, ACCORD_ETOOBIG, "%s: path too long", s->dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;

		got = err == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
		close(fd);
		if (err != EWOULDBLOCK)
			return accord_fail(e, ACCORD_EIO, "%s: cannot lock: %s", path,
					   strerror(err));
		pid[got > 0 ? (size_t)got : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		return accord_fail(e, ACCORD_EBUSY, "%s: the store is open to write in "
				   "another process (pid %s): is a node already running on "
				   "this data directory?", s->dir, *pid ? pid : "unknown");
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		int err = errno;

		close(fd);
		return accord_fail(e, ACCORD_EIO, "%s: %s", path, strerror(err));
	}
	s->lock_fd = fd;
	return 0;
}

/*
 * The layout's format: read, refused when newer than STORE_FORMAT, and
 * written (a writable open) when older or missing. The modules that open
 * their databases next bring an older layout up to date, each finding for
 * itself what is old, so a crash between the two loses nothing.
 */
static int check_format(store *s, accord_error *e)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 6, "format" }, v;
	uint8_t be[4];
	uint32_t have = 1;
	int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);

	if (rc != 0)
		return store_fail(e, rc, s->dir);
	rc = mdb_dbi_open(txn, "store", s->read_only ? 0 : MDB_CREATE, &dbi);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &k, &v);
	if (rc == 0 && v.mv_size != sizeof be) {
		mdb_txn_abort(txn);
		return accord_fail(e, ACCORD_EINVAL, "%s: the store's format marker is "
				   "%zu bytes, not 4: the store is damaged", s->dir, v.mv_size);
	}
	if (rc == 0) {
		memcpy(be, v.mv_data, sizeof be);
		have = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 | be[3];
	} else if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return store_fail(e, rc, s->dir);
	}
	if (have > STORE_FORMAT) {
		mdb_txn_abort(txn);
		return accord_fail(e, ACCORD_EINVAL, "%s: the store is in format %u, written "
				   "by a newer version of Accord; this version reads formats "
				   "up to %u: use that newer version", s->dir, (unsigned)have,
				   (unsigned)STORE_FORMAT);
	}
	if (s->read_only || have == STORE_FORMAT) {
		mdb_txn_abort(txn);
		return 0;
	}
	be[0] = 0, be[1] = 0, be[2] = 0, be[3] = STORE_FORMAT;
	v = (MDB_val){ sizeof be, be };
	rc = mdb_put(txn, dbi, &k, &v, 0);
	if (rc == 0)
		return (rc = mdb_txn_commit(txn)) == 0 || rc == MDB_MAP_FULL ? 0 :
		       store_fail(e, rc, s->dir);
	mdb_txn_abort(txn);
	/* A full store still opens, to be read; the mark waits for room. */
	return rc == MDB_MAP_FULL ? 0 : store_fail(e, rc, s->dir);
}

int store_open(const char *dir, const store_options *opt, store **out,
	       accord_error *e)
{
	store_options o = opt ? *opt : (store_options){ 0 };
	unsigned flags = o.read_only ? MDB_RDONLY : 0;
	char data[4096];
	bool fresh;
	store *s;
	int rc;

	if (!o.map_size)
		o.map_size = STORE_DEFAULT_MAP_SIZE;
	if (!o.map_max)
		o.map_max = STORE_DEFAULT_MAP_MAX;
	if (o.map_size > o.map_max)
		o.map_size = o.map_max;
	rc = check_dir(dir, !o.read_only, e);
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof *s);
	if (!s)
		return accord_fail(e, ACCORD_ENOMEM, "out of memory");
	s->dir = strdup(dir);
	s->map_max = o.map_max;
	s->read_only = o.read_only;
	s->lock_fd = -1;
	if (!s->dir) {
		rc = accord_fail(e, ACCORD_ENOMEM, "out of memory");
		goto out_free;
	}
	if (!o.read_only) {
		rc = take_writer_lock(s, e);
		if (rc != 0)
			goto out_free;
	}
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)o.map_size);
	if (rc != 0) {
		rc = store_fail(e, rc, dir);
		goto out_free;
	}
	if (fs_path(data, sizeof data, "%s/data.mdb", dir) != 0) {
		rc = accord_fail(e, ACCORD_ETOOBIG, "%s: path too long", dir);
		goto out_free;
	}
	fresh = !o.read_only && access(data, F_OK) != 0;
	/* A larger existing file wins over map_size: LMDB maps it whole. */
	rc = mdb_env_open(s->env, dir, flags, 0600);
	if (rc == ENOENT && o.read_only) {
		rc = accord_fail(e, ACCORD_ENOTFOUND, "%s: no node store here (no "
				 "data.mdb)", dir);
		goto out_free;
	}
	if (rc != 0) {
		rc = store_fail(e, rc, dir);
		goto out_free;
	}
	/* LMDB syncs what it writes in its files, not their names. */
	if (fresh) {
		rc = fs_sync_dir(dir, e);
		if (rc != 0)
			goto out_free;
	}
	rc = check_format(s, e);
	if (rc != 0)
		goto out_free;
	*out = s;
	return 0;
out_free:
	store_close(s);
	return rc;
}

void store_close(store *s)
{
	if (!s)
		return;
	if (s->env)
		mdb_env_close(s->env);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

const char *store_dir(const store *s)
{
	return s->dir;
}

MDB_env *store_env(store *s)
{
	return s->env;
}

bool store_read_only(const store *s)
{
	return s->read_only;
}

bool store_full(const store *s)
{
	return s->full;
}

uint64_t store_map_size(const store *s)
{
	MDB_envinfo info;

	mdb_env_info(s->env, &info);
	return info.me_mapsize;
}

static int open_db(store *s, const char *name, unsigned flags, bool create, MDB_dbi *out,
		   accord_error *e)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, s->read_only ? MDB_RDONLY : 0, &txn);

	if (rc != 0)
		return store_fail(e, rc, s->dir);
	rc = mdb_dbi_open(txn, name, flags | (create ? MDB_CREATE : 0), out);
	if (rc != 0) {
		mdb_txn_abort(txn);
		if (rc == MDB_NOTFOUND)
			return accord_fail(e, ACCORD_ENOTFOUND, "%s: the store has no "
					   "'%s' database yet", s->dir, name);
		return store_fail(e, rc, name);
	}
	rc = mdb_txn_commit(txn);
	return rc ? store_fail(e, rc, name) : 0;
}

int store_db(store *s, const char *name, unsigned flags, MDB_dbi *out,
	     accord_error *e)
{
	return open_db(s, name, flags, !s->read_only, out, e);
}

int store_db_find(store *s, const char *name, unsigned flags, MDB_dbi *out,
		  accord_error *e)
{
	return open_db(s, name, flags, false, out, e);
}

int store_read_begin(store *s, MDB_txn **txn, accord_error *e)
{
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);

	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map: adopt its size. */
		mdb_env_set_mapsize(s->env, 0);
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
	}
	return rc ? store_fail(e, rc, s->dir) : 0;
}

/* Double the map, up to map_max; ACCORD_EFULL when it is already there. */
static int grow(store *s, accord_error *e)
{
	uint64_t cur = store_map_size(s), next = cur * 2;
	int rc;

	if (cur >= s->map_max) {
		s->full = true;
		return accord_fail(e, ACCORD_EFULL,
				   "%s: the node store reached its size limit of %llu MiB; "
				   "nothing more can be recorded, so the node shares "
				   "nothing until the limit is raised",
				   s->dir, (unsigned long long)(s->map_max >> 20));
	}
	if (next > s->map_max || next < cur)
		next = s->map_max;
	rc = mdb_env_set_mapsize(s->env, (size_t)next);
	return rc ? store_fail(e, rc, "growing the node store") : 0;
}

int store_write(store *s, store_write_fn fn, void *ctx, accord_error *e)
{
	MDB_txn *txn;
	int rc;

	if (s->read_only)
		return accord_fail(e, ACCORD_EINVAL, "%s: the store is open read only",
				   s->dir);
	for (;;) {
		if (s->full)
			return accord_fail(e, ACCORD_EFULL,
					   "%s: the node store is full (limit %llu MiB); "
					   "nothing more can be recorded", s->dir,
					   (unsigned long long)(s->map_max >> 20));
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED) {
			mdb_env_set_mapsize(s->env, 0);
			continue;
		}
		if (rc != 0)
			return store_fail(e, rc, s->dir);
		rc = fn(txn, ctx, e);
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == 0)
			return 0;
		/* A put that store_fail'ed its MDB_MAP_FULL: grow all the same. */
		if (rc == ACCORD_EFULL)
			rc = MDB_MAP_FULL;
		if (!store_mdb_code(rc))
			return rc;
		if (rc != MDB_MAP_FULL)
			return store_fail(e, rc, s->dir);
		rc = grow(s, e);
		if (rc != 0)
			return rc;
	}
}
