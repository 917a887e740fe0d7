/* iommu-lab bridge shim: internal declarations shared by its translation units. */
#ifndef IOMMU_LAB_BRIDGE_SHIM_H
#define IOMMU_LAB_BRIDGE_SHIM_H

#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include "protocol.h"

#define SIMFD_MAX 4096

/* The real libc functions behind the ones this library replaces. */
struct real_fns {
	int (*open)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	int (*mprotect)(void *, size_t, int);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*ftruncate)(int, off_t);
	pid_t (*fork)(void);
	int (*access)(const char *, int);
	int (*faccessat)(int, const char *, int, int);
	FILE *(*fopen)(const char *, const char *);
	DIR *(*opendir)(const char *);
};

extern struct real_fns real;
void shim_resolve(void);

/* conn.c: the daemon connection and requests. */
int shim_active(void);
int shim_is_client(void);
long shim_request(int op, const void *payload, size_t len, void *data, size_t data_max);
void shim_vm_event(uintptr_t start, uintptr_t end, int attrs_only);
void shim_after_fork_child(long token);
/* The daemon connection's descriptor (the program's close calls leave it alone), or -1. */
int shim_conn_fd(void);
const char *shim_env(const char *name);

/* creds.c: the simulated credentials. */
uint64_t shim_cap_eff(void);
void shim_creds_exec(void);

/* fds.c: which descriptors are simulated. */
extern unsigned char shim_simfd[SIMFD_MAX];
static inline int shim_is_sim(int fd)
{
	return fd >= 0 && fd < SIMFD_MAX && shim_simfd[fd];
}
void shim_make_dummy(int fd, int cloexec);

/* mem.c: device mappings. */
int shim_overlaps_device(uintptr_t start, uintptr_t end);

/* paths.c */
int shim_normalize(const char *path, char *out, size_t outlen);
int shim_is_node(const char *norm);
int shim_failnth_path(const char *norm, char *out, size_t outlen);
int shim_status_pid(const char *norm);
int shim_status_open(int pid, int flags);
const char *shim_debugfs_rewrite(const char *norm, char *out, size_t outlen);

/* Sets errno from a -errno result and returns -1; returns the value otherwise. */
long shim_result(long ret);

#endif
