/* iommu-lab bridge shim: which paths are the simulated kernel's, and the /proc, /sys and debugfs files it presents. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Lexically normalizes an absolute path (//, /./, /../) and resolves /proc/self and /proc/thread-self. */
int shim_normalize(const char *path, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = path;
	if (*p != '/')
		return -1;
	while (*p) {
		while (*p == '/')
			p++;
		const char *seg = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		char tmp[64];
		if (o == 5 && strncmp(out, "/proc", 5) == 0 && n == 4 && strncmp(seg, "self", 4) == 0) {
			snprintf(tmp, sizeof(tmp), "%d", getpid());
			seg = tmp;
			n = strlen(tmp);
		} else if (o == 5 && strncmp(out, "/proc", 5) == 0 && n == 11 && strncmp(seg, "thread-self", 11) == 0) {
			snprintf(tmp, sizeof(tmp), "%d/task/%ld", getpid(), (long)syscall(SYS_gettid));
			seg = tmp;
			n = strlen(tmp);
		}
		if (o + 1 + n + 1 > outlen)
			return -1;
		out[o++] = '/';
		memcpy(out + o, seg, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return 0;
}

/* The simulated device nodes: IOMMU_LAB_BRIDGE_NODES, colon separated. */
int shim_is_node(const char *norm)
{
	const char *list = shim_env("IOMMU_LAB_BRIDGE_NODES");
	size_t n = strlen(norm);
	while (list && *list) {
		const char *end = strchr(list, ':');
		size_t len = end ? (size_t)(end - list) : strlen(list);
		if (len == n && strncmp(list, norm, n) == 0)
			return 1;
		list = end ? end + 1 : NULL;
	}
	return 0;
}

static int all_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* /proc/<pid>/task/<tid>/fail-nth and /proc/<pid>/fail-nth: the simulator's fault injection. */
int shim_failnth_path(const char *norm, char *out, size_t outlen)
{
	size_t n = strlen(norm);
	if (strncmp(norm, "/proc/", 6) != 0 || n < 15 || strcmp(norm + n - 9, "/fail-nth") != 0)
		return -1;
	const char *pid = norm + 6;
	const char *slash = strchr(pid, '/');
	if (!all_digits(pid, (size_t)(slash - pid)))
		return -1;
	if (strcmp(slash, "/fail-nth") != 0) {
		if (strncmp(slash, "/task/", 6) != 0)
			return -1;
		const char *tid = slash + 6;
		const char *s2 = strchr(tid, '/');
		if (!all_digits(tid, (size_t)(s2 - tid)) || strcmp(s2, "/fail-nth") != 0)
			return -1;
	}
	if (n + 1 > outlen)
		return -1;
	memcpy(out, norm, n + 1);
	return 0;
}

/* The pid of /proc/<pid>/status, or 0. */
int shim_status_pid(const char *norm)
{
	if (strncmp(norm, "/proc/", 6) != 0)
		return 0;
	const char *pid = norm + 6;
	const char *slash = strchr(pid, '/');
	if (!slash || !all_digits(pid, (size_t)(slash - pid)) || strcmp(slash, "/status") != 0)
		return 0;
	return atoi(pid);
}

static size_t read_file(const char *path, char *buf, size_t max)
{
	int fd = real.open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t n = real.read(fd, buf + len, max - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	real.close(fd);
	buf[len] = 0;
	return len;
}

/* Adds the simulated kernel's pinned/locked kB to a "Tag:\t   N kB" line of a status text. */
static size_t add_kb(char *text, size_t len, size_t max, const char *tag, long add)
{
	char *line = strstr(text, tag);
	if (!line)
		return len;
	char *eol = strchr(line, '\n');
	if (!eol)
		return len;
	long have = atol(line + strlen(tag));
	char repl[64];
	int rl = snprintf(repl, sizeof(repl), "%s\t%8ld kB", tag, have + add);
	size_t old = (size_t)(eol - line);
	if (len - old + (size_t)rl + 1 > max)
		return len;
	memmove(line + rl, eol, len - (size_t)(eol - text) + 1);
	memcpy(line, repl, (size_t)rl);
	return len - old + (size_t)rl;
}

/*
 * /proc/<pid>/status of a bridged process: the real text with the simulated kernel's VmPin and
 * VmLck added (the real kernel knows nothing of the pins the simulator holds).
 */
int shim_status_open(int pid, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	int32_t p = pid;
	int64_t kb[2] = { 0, 0 };
	long r = shim_request(BRIDGE_OP_STATUS, &p, sizeof(p), kb, sizeof(kb));
	if (r < 0)
		return real.open(path, flags);
	static char text[16384];
	size_t len = read_file(path, text, sizeof(text) - 256);
	if (len == 0)
		return real.open(path, flags);
	len = add_kb(text, len, sizeof(text), "VmLck:", kb[1]);
	len = add_kb(text, len, sizeof(text), "VmPin:", kb[0]);
	int fd = (int)syscall(SYS_memfd_create, "proc-status", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
	if (fd < 0)
		return fd;
	if (real.write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		real.close(fd);
		errno = EIO;
		return -1;
	}
	return fd;
}

/* /sys/kernel/debug/... lives in the daemon's directory (the fault-injection knobs). */
const char *shim_debugfs_rewrite(const char *norm, char *out, size_t outlen)
{
	const char *dir = shim_env("IOMMU_LAB_BRIDGE_DEBUGFS");
	if (!dir || strncmp(norm, "/sys/kernel/debug", 17) != 0 || (norm[17] != 0 && norm[17] != '/'))
		return NULL;
	if ((size_t)snprintf(out, outlen, "%s%s", dir, norm + 17) >= outlen)
		return NULL;
	return out;
}

FILE *fopen(const char *path, const char *mode)
{
	shim_resolve();
	char norm[4096], alt[4096];
	if (shim_active() && path[0] == '/' && shim_normalize(path, norm, sizeof(norm)) == 0) {
		int pid = shim_status_pid(norm);
		const char *dbg = shim_debugfs_rewrite(norm, alt, sizeof(alt));
		if (pid > 0) {
			int fd = shim_status_open(pid, O_RDONLY | O_CLOEXEC);
			return fd < 0 ? NULL : fdopen(fd, mode);
		}
		if (dbg)
			return real.fopen(dbg, mode);
	}
	return real.fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

DIR *opendir(const char *name)
{
	shim_resolve();
	char norm[4096], alt[4096];
	if (shim_active() && name[0] == '/' && shim_normalize(name, norm, sizeof(norm)) == 0) {
		const char *dbg = shim_debugfs_rewrite(norm, alt, sizeof(alt));
		if (dbg)
			return real.opendir(dbg);
	}
	return real.opendir(name);
}

/* access(2) on the simulated kernel's nodes and sysfs files answers from its state. */
static int sim_access(const char *path)
{
	char norm[4096];
	if (!shim_active() || path[0] != '/' || shim_normalize(path, norm, sizeof(norm)))
		return -2;
	if (!shim_is_node(norm) && strncmp(norm, "/sys/bus/iommufd", 16) != 0)
		return -2;
	return (int)shim_result(shim_request(BRIDGE_OP_ACCESS, norm, strlen(norm) + 1, NULL, 0));
}

int access(const char *path, int mode)
{
	shim_resolve();
	int r = sim_access(path);
	return r != -2 ? r : real.access(path, mode);
}

int faccessat(int dirfd, const char *path, int mode, int flags)
{
	shim_resolve();
	int r = sim_access(path);
	return r != -2 ? r : real.faccessat(dirfd, path, mode, flags);
}
