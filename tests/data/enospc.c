/*
 * A full disk for one directory, for tests/full_disk.rs, loaded with
 * LD_PRELOAD into the bot.
 *
 * While the file named by ENOSPC_FLAG exists, every write-side call on a
 * file descriptor whose path (readlink of /proc/self/fd/N) is ENOSPC_UNDER
 * or lies under it fails with errno = ENOSPC, as on a full disk, and writes
 * nothing. Everything else (other files, sockets, pipes, the terminal) goes
 * straight to libc. Nothing is cached but libc's own functions: the flag,
 * the directory and each descriptor's path are looked at on every call.
 *
 * The calls are those sled 0.34 and Rust's std make to write a file:
 * pwrite64 (FileExt::write_at), write (Write::write_all), fsync (sync_all),
 * fdatasync (sync_data), sync_file_range (sled's log), and the other
 * write-side forms for good measure. ftruncate is left alone: shrinking a
 * file never fails for want of space.
 *
 * Build: gcc -shared -fPIC -O1 -o libenospc.so enospc.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether a write to fd must fail now: the flag exists and fd's file is
 * under the directory. errno is left as it was. */
static int disk_full_for(int fd)
{
    int saved = errno;
    int full = 0;
    const char *flag = getenv("ENOSPC_FLAG");
    const char *under = getenv("ENOSPC_UNDER");
    if (flag && *flag && under && *under && access(flag, F_OK) == 0) {
        char link[64];
        char path[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0) {
            path[n] = '\0';
            size_t len = strlen(under);
            while (len > 1 && under[len - 1] == '/')
                len--;
            full = strncmp(path, under, len) == 0 && (path[len] == '/' || path[len] == '\0');
        }
    }
    errno = saved;
    return full;
}

/* `real`: the next definition of NAME (libc's), looked up on first use
 * and kept, atomically (threads may race to look it up; they find the same
 * pointer): it cannot change while the process runs. */
#define REAL(name)                                                          \
    static __typeof__(&name) real_##name;                                   \
    __typeof__(&name) real = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE); \
    if (!real) {                                                            \
        real = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                  \
        if (!real) {                                                        \
            errno = ENOSYS;                                                 \
            return -1;                                                      \
        }                                                                   \
        __atomic_store_n(&real_##name, real, __ATOMIC_RELEASE);             \
    }

#define FAIL_IF_FULL(fd)     \
    if (disk_full_for(fd)) { \
        errno = ENOSPC;      \
        return -1;           \
    }

ssize_t write(int fd, const void *buf, size_t count)
{
    REAL(write);
    FAIL_IF_FULL(fd);
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    REAL(pwrite);
    FAIL_IF_FULL(fd);
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset)
{
    REAL(pwrite64);
    FAIL_IF_FULL(fd);
    return real(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    REAL(writev);
    FAIL_IF_FULL(fd);
    return real(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
    REAL(pwritev);
    FAIL_IF_FULL(fd);
    return real(fd, iov, iovcnt, offset);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t offset)
{
    REAL(pwritev64);
    FAIL_IF_FULL(fd);
    return real(fd, iov, iovcnt, offset);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)
{
    REAL(pwritev2);
    FAIL_IF_FULL(fd);
    return real(fd, iov, iovcnt, offset, flags);
}

int fsync(int fd)
{
    REAL(fsync);
    FAIL_IF_FULL(fd);
    return real(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync);
    FAIL_IF_FULL(fd);
    return real(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags)
{
    REAL(sync_file_range);
    FAIL_IF_FULL(fd);
    return real(fd, offset, nbytes, flags);
}

int fallocate(int fd, int mode, off_t offset, off_t len)
{
    REAL(fallocate);
    FAIL_IF_FULL(fd);
    return real(fd, mode, offset, len);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t len)
{
    REAL(fallocate64);
    FAIL_IF_FULL(fd);
    return real(fd, mode, offset, len);
}
