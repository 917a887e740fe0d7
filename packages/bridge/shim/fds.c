/* iommu-lab bridge shim: system calls on descriptors of simulated files go to the daemon. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <time.h>
#include <unistd.h>

unsigned char shim_simfd[SIMFD_MAX];

/* A real descriptor numbered as the simulated one: a memfd that only names the file. */
void shim_make_dummy(int fd, int cloexec)
{
	if (fd < 0 || fd >= SIMFD_MAX)
		return;
	int tmp = (int)syscall(SYS_memfd_create, "iommu-lab-bridge", cloexec ? MFD_CLOEXEC : 0);
	if (tmp < 0)
		return;
	if (tmp != fd) {
		if (syscall(SYS_fcntl, fd, F_GETFD) >= 0) {
			/* The number is taken in the real process: the tables disagree. */
			real.close(tmp);
			return;
		}
		syscall(SYS_dup3, tmp, fd, cloexec ? O_CLOEXEC : 0);
		real.close(tmp);
	}
	shim_simfd[fd] = 1;
}

static int sim_open(const char *path, int flags, mode_t mode)
{
	char norm[4096], alt[4096];
	if (!shim_active() || path[0] != '/' || shim_normalize(path, norm, sizeof(norm)))
		return -2;
	const char *send = NULL;
	if (shim_is_node(norm))
		send = norm;
	else if (shim_failnth_path(norm, alt, sizeof(alt)) == 0)
		send = alt;
	if (send) {
		char buf[8 + 4096];
		int32_t f = flags;
		uint32_t m = mode;
		size_t n = strlen(send) + 1;
		memcpy(buf, &f, 4);
		memcpy(buf + 4, &m, 4);
		memcpy(buf + 8, send, n);
		return (int)shim_result(shim_request(BRIDGE_OP_OPEN, buf, 8 + n, NULL, 0));
	}
	int pid = shim_status_pid(norm);
	if (pid > 0)
		return shim_status_open(pid, flags);
	const char *dbg = shim_debugfs_rewrite(norm, alt, sizeof(alt));
	if (dbg)
		return real.open(dbg, flags, mode);
	return -2;
}

#define OPEN_MODE(flags, mode)                                                 \
	do {                                                                   \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                         \
			va_list ap;                                            \
			va_start(ap, flags);                                   \
			mode = va_arg(ap, mode_t);                             \
			va_end(ap);                                            \
		}                                                              \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	shim_resolve();
	int r = sim_open(path, flags, mode);
	return r != -2 ? r : real.open(path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	OPEN_MODE(flags, mode);
	shim_resolve();
	int r = sim_open(path, flags, mode);
	return r != -2 ? r : real.openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char *path, int flags) __attribute__((alias("__openat_2")));

int close(int fd)
{
	shim_resolve();
	if (fd >= 0 && fd == shim_conn_fd())
		return 0;
	if (!shim_is_sim(fd))
		return real.close(fd);
	int32_t f = fd;
	shim_request(BRIDGE_OP_CLOSE, &f, sizeof(f), NULL, 0);
	shim_simfd[fd] = 0;
	return real.close(fd);
}

static void sim_dup(int oldfd, int newfd)
{
	int32_t p[2] = { oldfd, newfd };
	shim_request(BRIDGE_OP_DUP, p, sizeof(p), NULL, 0);
	if (newfd >= 0 && newfd < SIMFD_MAX)
		shim_simfd[newfd] = shim_is_sim(oldfd);
}

int dup(int fd)
{
	shim_resolve();
	int r = real.dup(fd);
	if (r >= 0 && shim_is_sim(fd))
		sim_dup(fd, r);
	return r;
}

int dup2(int oldfd, int newfd)
{
	shim_resolve();
	int was = shim_is_sim(newfd);
	int r = real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && (was || shim_is_sim(oldfd)))
		sim_dup(oldfd, newfd);
	return r;
}

int dup3(int oldfd, int newfd, int flags)
{
	shim_resolve();
	int was = shim_is_sim(newfd);
	int r = real.dup3(oldfd, newfd, flags);
	if (r >= 0 && (was || shim_is_sim(oldfd)))
		sim_dup(oldfd, newfd);
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	shim_resolve();
	int r = real.fcntl(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && shim_is_sim(fd))
		sim_dup(fd, r);
	return r;
}

int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	shim_resolve();
	if (!shim_is_sim(fd))
		return real.ioctl(fd, request, arg);
	struct {
		int32_t fd;
		uint32_t pad;
		uint64_t request;
		uint64_t arg;
	} p = { fd, 0, request, arg };
	return (int)shim_result(shim_request(BRIDGE_OP_IOCTL, &p, sizeof(p), NULL, 0));
}

struct rw_payload {
	int32_t fd;
	uint32_t pad;
	uint64_t buf;
	uint64_t len;
	int64_t off;
};

static ssize_t sim_rw(int op, int fd, const void *buf, size_t len, off_t off)
{
	struct rw_payload p = { fd, 0, (uintptr_t)buf, len, off };
	size_t n = (op == BRIDGE_OP_PREAD || op == BRIDGE_OP_PWRITE) ? sizeof(p) : sizeof(p) - 8;
	return shim_result(shim_request(op, &p, n, NULL, 0));
}

ssize_t read(int fd, void *buf, size_t len)
{
	shim_resolve();
	return shim_is_sim(fd) ? sim_rw(BRIDGE_OP_READ, fd, buf, len, 0) : real.read(fd, buf, len);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	(void)buflen;
	return read(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	shim_resolve();
	return shim_is_sim(fd) ? sim_rw(BRIDGE_OP_WRITE, fd, buf, len, 0) : real.write(fd, buf, len);
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	shim_resolve();
	return shim_is_sim(fd) ? sim_rw(BRIDGE_OP_PREAD, fd, buf, len, off) : real.pread(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off) __attribute__((alias("pread")));

ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	(void)buflen;
	return pread(fd, buf, len, off);
}

ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen) __attribute__((alias("__pread_chk")));

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	shim_resolve();
	return shim_is_sim(fd) ? sim_rw(BRIDGE_OP_PWRITE, fd, buf, len, off) : real.pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

/* Simulated descriptors become ready only through other system calls: poll them, then the real ones, until the timeout. */
static int sim_poll(struct pollfd *fds, nfds_t n, int timeout_ms, const sigset_t *mask)
{
	int nsim = 0;
	for (nfds_t i = 0; i < n; i++)
		nsim += shim_is_sim(fds[i].fd);
	if (!nsim)
		return -2;
	struct pollfd realfds[n];
	char payload[8 + 8 * n];
	uint16_t rev[n];
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint32_t hdr[2] = { (uint32_t)n, 0 };
		memcpy(payload, hdr, 8);
		for (nfds_t i = 0; i < n; i++) {
			int32_t fd = shim_is_sim(fds[i].fd) ? fds[i].fd : -1;
			int16_t ev[2] = { fds[i].events, 0 };
			memcpy(payload + 8 + 8 * i, &fd, 4);
			memcpy(payload + 12 + 8 * i, ev, 4);
			realfds[i] = fds[i];
			if (shim_is_sim(fds[i].fd))
				realfds[i].fd = -1;
		}
		memset(rev, 0, sizeof(rev));
		long r = shim_request(BRIDGE_OP_POLL, payload, sizeof(payload), rev, sizeof(rev));
		if (r < 0)
			return (int)shim_result(r);
		struct timespec zero = { 0, 0 };
		int rr = real.ppoll(realfds, n, &zero, mask);
		if (rr < 0)
			return rr;
		int ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			fds[i].revents = shim_is_sim(fds[i].fd) ? (short)rev[i] : realfds[i].revents;
			ready += fds[i].revents != 0;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ready || timeout_ms == 0 || (timeout_ms > 0 && elapsed >= timeout_ms))
			return ready;
		struct timespec nap = { 0, 2000000 };
		nanosleep(&nap, NULL);
	}
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	shim_resolve();
	int r = sim_poll(fds, n, timeout, NULL);
	return r != -2 ? r : real.poll(fds, n, timeout);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	(void)fdslen;
	return poll(fds, n, timeout);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	shim_resolve();
	int ms = ts ? (int)(ts->tv_sec * 1000 + ts->tv_nsec / 1000000) : -1;
	int r = sim_poll(fds, n, ms, mask);
	return r != -2 ? r : real.ppoll(fds, n, ts, mask);
}

/* closefrom/close_range close simulated descriptors through the daemon first. */
static void sim_close_range(unsigned int first, unsigned int last)
{
	for (unsigned int fd = first; fd <= last && fd < SIMFD_MAX; fd++) {
		if (!shim_simfd[fd])
			continue;
		int32_t f = (int32_t)fd;
		shim_request(BRIDGE_OP_CLOSE, &f, sizeof(f), NULL, 0);
		shim_simfd[fd] = 0;
	}
}

/* The real close_range, around the daemon connection. */
static int real_close_range(unsigned int first, unsigned int last, int flags)
{
	int c = shim_conn_fd();
	if (c < 0 || (unsigned int)c < first || (unsigned int)c > last)
		return (int)syscall(SYS_close_range, first, last, flags);
	int r = 0;
	if ((unsigned int)c > first)
		r = (int)syscall(SYS_close_range, first, (unsigned int)c - 1, flags);
	if (r == 0 && (unsigned int)c < last)
		r = (int)syscall(SYS_close_range, (unsigned int)c + 1, last, flags);
	return r;
}

int close_range(unsigned int first, unsigned int last, int flags)
{
	shim_resolve();
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		sim_close_range(first, last);
	return real_close_range(first, last, flags);
}

void closefrom(int lowfd)
{
	shim_resolve();
	unsigned int first = lowfd < 0 ? 0 : (unsigned int)lowfd;
	sim_close_range(first, ~0U);
	real_close_range(first, ~0U, 0);
}
