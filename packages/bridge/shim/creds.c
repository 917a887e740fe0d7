/* iommu-lab bridge shim: the process's capabilities as the simulated kernel sees them (it runs as root there). */
#include "shim.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Effective, permitted and inheritable sets: every capability when a program image starts, as for root. */
static uint64_t eff = ~0ULL, perm = ~0ULL, inh;

uint64_t shim_cap_eff(void)
{
	return eff;
}

void shim_creds_exec(void)
{
	eff = perm = ~0ULL;
	inh = 0;
}

static int own(cap_user_header_t hdr)
{
	return hdr && (hdr->pid == 0 || hdr->pid == getpid()) &&
	       (hdr->version == _LINUX_CAPABILITY_VERSION_3 || hdr->version == _LINUX_CAPABILITY_VERSION_2);
}

int capget(cap_user_header_t hdr, cap_user_data_t data)
{
	if (!shim_active() || !own(hdr) || !data)
		return (int)syscall(SYS_capget, hdr, data);
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(perm >> (32 * i));
		data[i].inheritable = (uint32_t)(inh >> (32 * i));
	}
	return 0;
}

/* commoncap's rules: permitted may only shrink, effective within permitted, inheritable within both old sets. */
int capset(cap_user_header_t hdr, const cap_user_data_t data)
{
	if (!shim_active() || !own(hdr) || !data)
		return (int)syscall(SYS_capset, hdr, data);
	uint64_t ne = data[0].effective | (uint64_t)data[1].effective << 32;
	uint64_t np = data[0].permitted | (uint64_t)data[1].permitted << 32;
	uint64_t ni = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
	if ((np & ~perm) || (ne & ~np) || (ni & ~(inh | perm))) {
		errno = EPERM;
		return -1;
	}
	eff = ne;
	perm = np;
	inh = ni;
	/* The real process drops what it really has too (as root this is the same change). */
	struct __user_cap_data_struct real[2];
	struct __user_cap_header_struct rh = { _LINUX_CAPABILITY_VERSION_3, 0 };
	if (syscall(SYS_capget, &rh, real) == 0) {
		for (int i = 0; i < 2; i++) {
			real[i].permitted &= data[i].permitted;
			real[i].effective &= data[i].effective & real[i].permitted;
			real[i].inheritable &= data[i].inheritable;
		}
		syscall(SYS_capset, &rh, real);
	}
	return 0;
}
