/*
 * lazyfs: a FUSE passthrough filesystem that loses what was not fsync'ed, for crash tests.
 *
 * Killing a process (SIGKILL) keeps the operating system's page cache, so a test that only
 * kills a node would pass even if the node never called fsync. This filesystem stands for
 * the disk instead: file data written through it is held in this process's memory, per
 * file, until that file is fsync'ed or fdatasync'ed, and only then written to the backing
 * directory. A crash (SIGUSR1) drops everything still held, which is what a power loss does to
 * data that was never synced. The idea is Jepsen's LazyFS; this is a small rewrite of it for
 * one job.
 *
 *   lazyfs [--sync-delay-ms N] BACKING MOUNTPOINT [-f] [fuse options]   (single-threaded: -s)
 *
 * Crash: send SIGUSR1 to the lazyfs process. Every unsynced write and pending truncate is
 *   dropped at once, before the next operation is served, and the filesystem is dead from then
 *   on: every operation but the control file answers EIO, as a machine without power would.
 *   Unmount it and mount a new one over the same backing directory to "reboot". A signal, not
 *   a command written to a file, because it must also land inside an fsync in progress: with
 *   --sync-delay-ms every fsync takes that long (a slow disk), its data becomes durable only
 *   at the end, and a crash during the wait drops it and answers EIO.
 * Control file: MOUNTPOINT/.lazyfs, read-only, not listed by readdir. Reading it gives one line
 *   of JSON: whether it crashed, bytes and files held now, bytes and number of fsyncs written so
 *   far, the sync delay, and what the crash dropped (bytes, files by path).
 *
 * What it models, and what it does not:
 * - File data (write, truncate, O_TRUNC) is held until fsync/fdatasync of that file; reads and
 *   sizes (getattr) see the held writes laid over the backing file, so the writer reads its
 *   own writes as it would from a page cache. close() does not sync, as on a real disk.
 * - Known simplification: metadata (create, mkdir, rename, unlink, link, chmod, utimens) goes
 *   to the backing directory at once, so it survives a crash even without an fsync of its
 *   directory, and fsyncdir is a no-op. Real filesystems (ext4's journal) make such changes
 *   durable no later than the next fsync of any file, so this is kinder only to a program that
 *   renames or creates a file and relies on it without any later fsync. A created file does
 *   survive the crash, with only its synced data (possibly empty).
 * - A crash drops whole writes; it does not tear a write in half or persist some unsynced
 *   writes and not others.
 * - The backing directory plays the disk platter: data synced here is written to it, not
 *   fsync'ed on the host (the test does not pull the host's power).
 * - Regular files do not use direct_io: LevelDB maps table files with mmap(MAP_SHARED), which
 *   FUSE refuses (ENODEV) for a file opened with direct_io unless the filesystem opts in with
 *   FUSE_DIRECT_IO_ALLOW_MMAP (libfuse 3.16 and Linux 6.6; Debian's libfuse3 is older). Writes still reach this process
 *   at once (no writeback_cache: the kernel writes through), attribute and entry timeouts are
 *   0 so sizes always come from here, and after a crash the mount is dead and must be
 *   replaced, so no page the kernel cached from before the crash is ever read again.
 *
 * Build: cc -O2 -Wall -o lazyfs lazyfs.c $(pkg-config --cflags --libs fuse3)   (or `make`)
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#define CTL_NAME "/.lazyfs"
/* Room for the control file's report; the file list in it is cut short to fit. */
#define REPORT_MAX 65536

/* One write held in memory: `len` bytes at `off`. Later extents override earlier ones. */
struct extent {
  off_t off;
  size_t len, cap;
  char *data;
  struct extent *next;
};

/* What is held for one backing file (by inode, so it follows the file through renames). */
struct lfile {
  dev_t dev;
  ino_t ino;
  char *path;      /* last known path, for the report only */
  int linked;      /* still reachable by a path (in `files`) */
  int open;        /* handles open on it */
  int dirty;       /* something is held: the fields below mean something */
  off_t base_len;  /* bytes of the backing file still visible (a held truncate lowers it) */
  off_t size;      /* the size the file has while dirty */
  size_t held;     /* bytes held in extents */
  struct extent *head, *tail;
  struct lfile *next;
};

/* An open file: its backing descriptor, or the control file (`f` NULL). */
struct handle {
  int fd;
  struct lfile *f;
  char *report;    /* control file: the report made at open */
  size_t report_len;
};

static int root_fd = -1;
static struct lfile *files; /* linked files that have been seen (held data or not) */
static int crashed;
static volatile sig_atomic_t crash_signal;
static struct timespec sync_delay;
static unsigned long long synced_bytes, syncs;
static char last_crash[REPORT_MAX / 2] = "null";

/* ---- bookkeeping ----------------------------------------------------------------------- */

static const char *rel(const char *path) { return path[1] ? path + 1 : "."; }

static int is_ctl(const char *path) { return path && strcmp(path, CTL_NAME) == 0; }

static struct handle *handle_of(struct fuse_file_info *fi) {
  return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static struct lfile *find_file(dev_t dev, ino_t ino) {
  for (struct lfile *f = files; f; f = f->next)
    if (f->dev == dev && f->ino == ino) return f;
  return NULL;
}

static struct lfile *get_file(const struct stat *st, const char *path) {
  struct lfile *f = find_file(st->st_dev, st->st_ino);
  if (f) return f;
  f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->dev = st->st_dev;
  f->ino = st->st_ino;
  f->path = strdup(path ? path : "?");
  f->linked = 1;
  f->next = files;
  files = f;
  return f;
}

static void drop_extents(struct lfile *f) {
  struct extent *e = f->head;
  while (e) {
    struct extent *next = e->next;
    free(e->data);
    free(e);
    e = next;
  }
  f->head = f->tail = NULL;
  f->held = 0;
  f->dirty = 0;
}

static void free_file(struct lfile *f) {
  drop_extents(f);
  free(f->path);
  free(f);
}

/* Takes `f` out of `files`: its last link is gone, and its inode number may be reused. */
static void detach(struct lfile *f) {
  for (struct lfile **p = &files; *p; p = &(*p)->next) {
    if (*p == f) {
      *p = f->next;
      break;
    }
  }
  f->linked = 0;
  f->next = NULL;
  if (f->open == 0) free_file(f);
}

/* What is held for the file at `path` if removing that path takes its last link, else NULL. */
static struct lfile *last_link(const char *path) {
  struct stat st;
  if (fstatat(root_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW) != 0) return NULL;
  if (!S_ISREG(st.st_mode) || st.st_nlink > 1) return NULL;
  return find_file(st.st_dev, st.st_ino);
}

/* The first held change of a file: from here on reads are laid over the backing file. */
static int make_dirty(struct lfile *f, off_t backing_size) {
  if (f->dirty) return 0;
  f->dirty = 1;
  f->base_len = backing_size;
  f->size = backing_size;
  return 0;
}

static int hold_write(struct lfile *f, const char *buf, size_t len, off_t off) {
  struct extent *t = f->tail;
  if (t && t->off + (off_t)t->len == off) {
    /* Appends (LevelDB's logs) grow the last extent instead of adding one per write. */
    if (t->len + len > t->cap) {
      size_t cap = t->cap * 2 > t->len + len ? t->cap * 2 : t->len + len;
      char *data = realloc(t->data, cap);
      if (!data) return -ENOMEM;
      t->data = data;
      t->cap = cap;
    }
    memcpy(t->data + t->len, buf, len);
    t->len += len;
  } else {
    struct extent *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->data = malloc(len > 4096 ? len : 4096);
    if (!e->data) {
      free(e);
      return -ENOMEM;
    }
    memcpy(e->data, buf, len);
    e->off = off;
    e->len = len;
    e->cap = len > 4096 ? len : 4096;
    if (f->tail) f->tail->next = e;
    else f->head = e;
    f->tail = e;
  }
  f->held += len;
  if (off + (off_t)len > f->size) f->size = off + (off_t)len;
  return 0;
}

static void hold_truncate(struct lfile *f, off_t len) {
  if (len < f->base_len) f->base_len = len;
  struct extent **p = &f->head;
  f->tail = NULL;
  f->held = 0;
  while (*p) {
    struct extent *e = *p;
    if (e->off >= len) {
      *p = e->next;
      free(e->data);
      free(e);
      continue;
    }
    if (e->off + (off_t)e->len > len) e->len = (size_t)(len - e->off);
    f->held += e->len;
    f->tail = e;
    p = &e->next;
  }
  f->size = len;
}

static ssize_t pread_full(int fd, char *buf, size_t len, off_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

static int pwrite_full(int fd, const char *buf, size_t len, off_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, off + (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    done += (size_t)n;
  }
  return 0;
}

/* What a read sees: the visible part of the backing file, zeros past it, held writes on top. */
static ssize_t read_overlay(struct lfile *f, int fd, char *buf, size_t size, off_t off) {
  if (off >= f->size) return 0;
  if ((off_t)size > f->size - off) size = (size_t)(f->size - off);
  memset(buf, 0, size);
  if (off < f->base_len) {
    size_t n = (off_t)size < f->base_len - off ? size : (size_t)(f->base_len - off);
    ssize_t r = pread_full(fd, buf, n, off);
    if (r < 0) return r;
  }
  for (struct extent *e = f->head; e; e = e->next) {
    off_t s = off > e->off ? off : e->off;
    off_t end = e->off + (off_t)e->len;
    off_t t = off + (off_t)size < end ? off + (off_t)size : end;
    if (s < t) memcpy(buf + (s - off), e->data + (s - e->off), (size_t)(t - s));
  }
  return (ssize_t)size;
}

/* fsync: what is held for the file goes to the backing file, in the order it was written. */
static int flush_file(struct lfile *f, int fd) {
  if (!f->dirty) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (f->base_len < st.st_size && ftruncate(fd, f->base_len) != 0) return -errno;
  for (struct extent *e = f->head; e; e = e->next) {
    int r = pwrite_full(fd, e->data, e->len, e->off);
    if (r != 0) return r;
  }
  if (fstat(fd, &st) != 0) return -errno;
  if (st.st_size != f->size && ftruncate(fd, f->size) != 0) return -errno;
  synced_bytes += f->held;
  syncs++;
  drop_extents(f);
  return 0;
}

/* ---- the control file ---------------------------------------------------------------- */

static size_t json_str(char *out, size_t room, const char *s) {
  size_t n = 0;
  if (room < 3) return 0;
  out[n++] = '"';
  for (; *s && n + 7 < room; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') n += (size_t)snprintf(out + n, room - n, "\\%c", c);
    else if (c < 0x20) n += (size_t)snprintf(out + n, room - n, "\\u%04x", c);
    else out[n++] = (char)c;
  }
  out[n++] = '"';
  out[n] = 0;
  return n;
}

/* `{"bytes":N,"files":[{"path":P,"bytes":N},...]}` of what is held now, into `out`. */
static void describe_held(char *out, size_t room) {
  unsigned long long bytes = 0;
  for (struct lfile *f = files; f; f = f->next) bytes += f->held;
  size_t n = (size_t)snprintf(out, room, "{\"bytes\":%llu,\"files\":[", bytes);
  int first = 1;
  for (struct lfile *f = files; f && n + 200 < room; f = f->next) {
    if (!f->dirty) continue;
    n += (size_t)snprintf(out + n, room - n, "%s{\"path\":", first ? "" : ",");
    n += json_str(out + n, room - n - 40, f->path);
    n += (size_t)snprintf(out + n, room - n, ",\"bytes\":%zu}", f->held);
    first = 0;
  }
  snprintf(out + n, room - n, "]}");
}

static char *make_report(size_t *len) {
  char *out = malloc(REPORT_MAX);
  if (!out) return NULL;
  char held[REPORT_MAX / 2];
  describe_held(held, sizeof held);
  int n = snprintf(out, REPORT_MAX,
                   "{\"crashed\":%s,\"held\":%s,\"syncedBytes\":%llu,\"syncs\":%llu,\"syncDelayMs\":%lld,"
                   "\"lastCrash\":%s}\n",
                   crashed ? "true" : "false", held, synced_bytes, syncs,
                   (long long)sync_delay.tv_sec * 1000 + sync_delay.tv_nsec / 1000000, last_crash);
  *len = n < REPORT_MAX ? (size_t)n : REPORT_MAX - 1;
  return out;
}

static int do_crash(void) {
  describe_held(last_crash, sizeof last_crash);
  unsigned long long bytes = 0, nfiles = 0;
  for (struct lfile *f = files; f; f = f->next) {
    if (f->dirty) nfiles++;
    bytes += f->held;
    drop_extents(f);
  }
  crashed = 1;
  fprintf(stderr, "lazyfs: crash: dropped %llu unsynced bytes in %llu files\n", bytes, nfiles);
  return 0;
}

/* Every operation starts here: the crash a signal asked for happens before it. */
static int dead(void) {
  if (crash_signal && !crashed) do_crash();
  return crashed;
}

/* ---- FUSE operations ----------------------------------------------------------------- */

static void *lf_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->use_ino = 1;
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->kernel_cache = 0;
  cfg->direct_io = 0;
  /* Unlink an open file for real (no .fuse_hidden rename): its handles carry on without a path. */
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  return NULL;
}

static void lf_destroy(void *data) {
  (void)data;
  unsigned long long bytes = 0;
  for (struct lfile *f = files; f; f = f->next) bytes += f->held;
  if (bytes > 0) fprintf(stderr, "lazyfs: unmounted with %llu unsynced bytes: dropped\n", bytes);
}

static int lf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  if (is_ctl(path) || (handle_of(fi) && !handle_of(fi)->f)) {
    memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
  }
  if (dead()) return -EIO;
  struct handle *h = handle_of(fi);
  int r = h ? fstat(h->fd, st) : fstatat(root_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return -errno;
  if (S_ISREG(st->st_mode)) {
    struct lfile *f = h ? h->f : find_file(st->st_dev, st->st_ino);
    if (f && f->dirty) {
      st->st_size = f->size;
      st->st_blocks = (f->size + 511) / 512;
    }
  }
  return 0;
}

/* A directory handle is its backing DIR: with nullpath_ok, readdir gets no path. */
static int lf_opendir(const char *path, struct fuse_file_info *fi) {
  if (dead()) return -EIO;
  int fd = openat(root_fd, rel(path), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -errno;
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return -e;
  }
  fi->fh = (uint64_t)(uintptr_t)d;
  return 0;
}

static int lf_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)path;
  (void)offset;
  (void)flags;
  if (dead()) return -EIO;
  DIR *d = (DIR *)(uintptr_t)fi->fh;
  rewinddir(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    struct stat st = {0};
    st.st_ino = de->d_ino;
    st.st_mode = (mode_t)de->d_type << 12;
    if (filler(buf, de->d_name, &st, 0, 0)) break;
  }
  return 0;
}

static int lf_releasedir(const char *path, struct fuse_file_info *fi) {
  (void)path;
  closedir((DIR *)(uintptr_t)fi->fh);
  return 0;
}

static int lf_mkdir(const char *path, mode_t mode) {
  if (dead()) return -EIO;
  return mkdirat(root_fd, rel(path), mode) == 0 ? 0 : -errno;
}

static int lf_rmdir(const char *path) {
  if (dead()) return -EIO;
  return unlinkat(root_fd, rel(path), AT_REMOVEDIR) == 0 ? 0 : -errno;
}

static int lf_unlink(const char *path) {
  if (dead()) return -EIO;
  if (is_ctl(path)) return -EPERM;
  struct lfile *f = last_link(path);
  if (unlinkat(root_fd, rel(path), 0) != 0) return -errno;
  if (f) detach(f);
  return 0;
}

static int lf_rename(const char *from, const char *to, unsigned int flags) {
  if (dead()) return -EIO;
  if (is_ctl(from) || is_ctl(to)) return -EPERM;
  struct stat src;
  if (fstatat(root_fd, rel(from), &src, AT_SYMLINK_NOFOLLOW) != 0) return -errno;
  struct stat dst;
  int replaces = !(flags & RENAME_EXCHANGE) &&
                 fstatat(root_fd, rel(to), &dst, AT_SYMLINK_NOFOLLOW) == 0 &&
                 !(dst.st_dev == src.st_dev && dst.st_ino == src.st_ino);
  if (renameat2(root_fd, rel(from), root_fd, rel(to), flags) != 0) return -errno;
  if (replaces && S_ISREG(dst.st_mode) && dst.st_nlink == 1) {
    struct lfile *g = find_file(dst.st_dev, dst.st_ino);
    if (g) detach(g);
  }
  struct lfile *f = find_file(src.st_dev, src.st_ino);
  if (f) {
    char *p = strdup(to);
    if (p) {
      free(f->path);
      f->path = p;
    }
  }
  return 0;
}

static int lf_link(const char *from, const char *to) {
  if (dead()) return -EIO;
  return linkat(root_fd, rel(from), root_fd, rel(to), 0) == 0 ? 0 : -errno;
}

static int lf_symlink(const char *target, const char *path) {
  if (dead()) return -EIO;
  return symlinkat(target, root_fd, rel(path)) == 0 ? 0 : -errno;
}

static int lf_readlink(const char *path, char *buf, size_t size) {
  if (dead()) return -EIO;
  ssize_t n = readlinkat(root_fd, rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = 0;
  return 0;
}

static int lf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  if (dead()) return -EIO;
  struct handle *h = handle_of(fi);
  if (h && !h->f) return -EPERM;
  int r = h ? fchmod(h->fd, mode) : fchmodat(root_fd, rel(path), mode, 0);
  return r == 0 ? 0 : -errno;
}

static int lf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  if (dead()) return -EIO;
  struct handle *h = handle_of(fi);
  if (h && !h->f) return -EPERM;
  int r = h ? fchown(h->fd, uid, gid) : fchownat(root_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
  return r == 0 ? 0 : -errno;
}

static int lf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  if (dead()) return -EIO;
  struct handle *h = handle_of(fi);
  if (h && !h->f) return 0;
  int r = h ? futimens(h->fd, tv) : utimensat(root_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
  return r == 0 ? 0 : -errno;
}

static int lf_truncate(const char *path, off_t len, struct fuse_file_info *fi) {
  struct handle *h = handle_of(fi);
  if ((h && !h->f) || is_ctl(path)) return 0;
  if (dead()) return -EIO;
  struct stat st;
  int r = h ? fstat(h->fd, &st) : fstatat(root_fd, rel(path), &st, AT_SYMLINK_NOFOLLOW);
  if (r != 0) return -errno;
  if (!S_ISREG(st.st_mode)) return -EINVAL;
  struct lfile *f = h ? h->f : get_file(&st, path);
  if (!f) return -ENOMEM;
  make_dirty(f, st.st_size);
  hold_truncate(f, len);
  return 0;
}

/* Opens the backing file read-write whatever was asked: a held write is synced through it. */
static int open_backing(const char *path, struct fuse_file_info *fi, int create, mode_t mode) {
  if (dead()) return -EIO;
  int flags = fi->flags & ~(O_ACCMODE | O_TRUNC | O_APPEND);
  if (create) flags |= O_CREAT;
  int fd = openat(root_fd, rel(path), flags | O_RDWR, mode);
  if (fd < 0 && errno == EACCES) fd = openat(root_fd, rel(path), flags | (fi->flags & O_ACCMODE), mode);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  struct lfile *f = get_file(&st, path);
  struct handle *h = calloc(1, sizeof *h);
  if (!f || !h) {
    free(h);
    close(fd);
    return -ENOMEM;
  }
  h->fd = fd;
  h->f = f;
  f->open++;
  if (fi->flags & O_TRUNC) {
    make_dirty(f, st.st_size);
    hold_truncate(f, 0);
  }
  fi->fh = (uint64_t)(uintptr_t)h;
  return 0;
}

static int open_ctl(struct fuse_file_info *fi) {
  struct handle *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  h->fd = -1;
  dead(); /* a crash signalled before this open shows in the report */
  h->report = make_report(&h->report_len);
  fi->fh = (uint64_t)(uintptr_t)h;
  fi->direct_io = 1; /* its size is 0: the kernel must ask for the content */
  return 0;
}

static int lf_open(const char *path, struct fuse_file_info *fi) {
  if (is_ctl(path)) return open_ctl(fi);
  return open_backing(path, fi, 0, 0);
}

static int lf_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  if (is_ctl(path)) return open_ctl(fi);
  return open_backing(path, fi, 1, mode);
}

static int lf_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  struct handle *h = handle_of(fi);
  if (!h->f) {
    if (!h->report || off >= (off_t)h->report_len) return 0;
    size_t n = h->report_len - (size_t)off < size ? h->report_len - (size_t)off : size;
    memcpy(buf, h->report + off, n);
    return (int)n;
  }
  if (dead()) return -EIO;
  if (h->f->dirty) return (int)read_overlay(h->f, h->fd, buf, size, off);
  return (int)pread_full(h->fd, buf, size, off);
}

static int lf_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
  (void)path;
  struct handle *h = handle_of(fi);
  if (!h->f) return -EPERM;
  if (dead()) return -EIO;
  if (!h->f->dirty) {
    struct stat st;
    if (fstat(h->fd, &st) != 0) return -errno;
    make_dirty(h->f, st.st_size);
  }
  int r = hold_write(h->f, buf, size, off);
  return r < 0 ? r : (int)size;
}

static int lf_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  (void)datasync; /* data is all this holds: fsync and fdatasync do the same */
  struct handle *h = handle_of(fi);
  if (!h->f) return 0;
  if (dead()) return -EIO;
  /* A slow disk: the data is durable at the end of the wait, and a crash during it loses it. */
  struct timespec left = sync_delay;
  while ((left.tv_sec || left.tv_nsec) && nanosleep(&left, &left) != 0 && !crash_signal) continue;
  if (dead()) return -EIO;
  return flush_file(h->f, h->fd);
}

static int lf_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  (void)datasync;
  (void)fi;
  return dead() ? -EIO : 0; /* metadata went to the backing directory already */
}

static int lf_flush(const char *path, struct fuse_file_info *fi) {
  (void)path;
  (void)fi;
  return 0; /* close() is not a sync */
}

static int lf_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  struct handle *h = handle_of(fi);
  if (h->f) {
    close(h->fd);
    struct lfile *f = h->f;
    f->open--;
    if (!f->linked && f->open == 0) free_file(f);
  }
  free(h->report);
  free(h);
  return 0;
}

static int lf_statfs(const char *path, struct statvfs *st) {
  (void)path;
  if (dead()) return -EIO;
  return fstatvfs(root_fd, st) == 0 ? 0 : -errno;
}

static const struct fuse_operations ops = {
    .init = lf_init,
    .destroy = lf_destroy,
    .getattr = lf_getattr,
    .opendir = lf_opendir,
    .readdir = lf_readdir,
    .releasedir = lf_releasedir,
    .mkdir = lf_mkdir,
    .rmdir = lf_rmdir,
    .unlink = lf_unlink,
    .rename = lf_rename,
    .link = lf_link,
    .symlink = lf_symlink,
    .readlink = lf_readlink,
    .chmod = lf_chmod,
    .chown = lf_chown,
    .utimens = lf_utimens,
    .truncate = lf_truncate,
    .open = lf_open,
    .create = lf_create,
    .read = lf_read,
    .write = lf_write,
    .fsync = lf_fsync,
    .fsyncdir = lf_fsyncdir,
    .flush = lf_flush,
    .release = lf_release,
    .statfs = lf_statfs,
};

static void on_crash_signal(int sig) {
  (void)sig;
  crash_signal = 1;
}

int main(int argc, char *argv[]) {
  char *prog = argv[0];
  long delay_ms = 0;
  if (argc > 2 && strcmp(argv[1], "--sync-delay-ms") == 0) {
    char *end;
    delay_ms = strtol(argv[2], &end, 10);
    if (*end || delay_ms < 0 || delay_ms > 10000) {
      fprintf(stderr, "lazyfs: --sync-delay-ms takes 0 to 10000\n");
      return 2;
    }
    argv += 2;
    argc -= 2;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: %s [--sync-delay-ms N] BACKING MOUNTPOINT [-f] [fuse options]\n", prog);
    return 2;
  }
  sync_delay.tv_sec = delay_ms / 1000;
  sync_delay.tv_nsec = (delay_ms % 1000) * 1000000L;
  root_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (root_fd < 0) {
    fprintf(stderr, "lazyfs: cannot open backing directory %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  /* No SA_RESTART: the signal cuts short an fsync's wait (nanosleep answers EINTR). */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return 2;
  /* argv without BACKING, plus -s: the code above is not thread-safe. */
  char **args = calloc((size_t)argc + 4, sizeof *args);
  if (!args) return 2;
  int n = 0;
  args[n++] = prog;
  for (int i = 2; i < argc; i++) args[n++] = argv[i];
  args[n++] = "-s";
  args[n++] = "-ofsname=lazyfs,subtype=lazyfs";
  args[n] = NULL;
  int r = fuse_main(n, args, &ops, NULL);
  free(args);
  return r;
}
