/* cpus.h - how many CPUs this process may use: its affinity mask (taskset, cpusets),
 * capped by the CPU quota of its cgroup and of every parent cgroup (a Kubernetes CPU
 * limit, systemd's CPUQuota): cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` /
 * `cpu.cfs_period_us`, rounded up. A pod limited to 2 CPUs on a 64-core node counts 2,
 * so what is sized per core (pollers, workers, list connections) fits the pod.
 * Stateless; any thread. */
#ifndef TD_CORE_CPUS_H
#define TD_CORE_CPUS_H

/* At least 1. Reads /proc/self/cgroup and the files under /sys/fs/cgroup on each call. */
int td_usable_cpus(void);

/* The same from given inputs, for tests: `affinity` CPUs, the text of /proc/self/cgroup,
 * and the cgroup mount root (v1 controllers in root/cpu). */
int td_usable_cpus_from(int affinity, const char *proc_self_cgroup, const char *root);

/* CPUs a quota allows: ceil(quota / period); 0 when unlimited (quota < 0, the v2 "max")
 * or out of range. */
int td_cpu_quota_cpus(long long quota, long long period);

#endif
