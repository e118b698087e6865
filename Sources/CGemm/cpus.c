// The CPUs this process may run on (its affinity mask), which Swift's Glibc module does not expose:
// sched_getaffinity and CPU_COUNT need _GNU_SOURCE.
#define _GNU_SOURCE
#include <sched.h>
#include "CGemm.h"

int rdd_available_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
    return 0;
}
